"""Quantization names and split-file names parsed from GGUF file names."""

from __future__ import annotations

import pytest

from app.models.quant import is_projector_name, parse_quant, shard_info


@pytest.mark.parametrize(("name", "quant"), [
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
    ("model-f16.gguf", "F16"),
    ("gemma-3-270m-it-BF16.gguf", "BF16"),
    ("Phi-3-mini-4k-instruct-IQ2_XXS.gguf", "IQ2_XXS"),
    ("Phi-3-mini-4k-instruct-IQ2_XS.gguf", "IQ2_XS"),
    ("Qwen3-8B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
    ("sub/dir/Mistral-7B-v0.3.Q5_K_S.gguf", "Q5_K_S"),
    ("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
    ("ggml-model-fp16.gguf", "F16"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("tinyllama.gguf", None),
    ("qwen2.5-f16x.gguf", None),  # "f16" glued to other letters is not a quant
])
def test_parse_quant_reads_the_quant_from_common_file_names(name: str, quant: str | None) -> None:
    assert parse_quant(name) == quant


def test_shard_info_and_projectors() -> None:
    assert shard_info("big-Q4_K_M-00002-of-00003.gguf") == ("big-Q4_K_M", 2, 3)
    assert shard_info("big-Q4_K_M.gguf") is None
    assert is_projector_name("folder/mmproj-model-f16.gguf")
    assert not is_projector_name("model-f16.gguf")
