"""Every bad input at load time gets a clear message: files, context, memory, device, template."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.errors import RequestFailed
from app.supervisor import InProcessClient

GGUFWriter = Callable[..., Path]


def _load_error(model: Path | str, device: str = "cpu", **options: object) -> RequestFailed:
    with InProcessClient.for_engine("llm") as client, pytest.raises(RequestFailed) as caught:
        client.load(str(model), device, options)
    return caught.value


def test_not_a_gguf(tmp_path: Path) -> None:
    page = tmp_path / "model.gguf"
    page.write_text("<html><body>404 Not Found</body></html>" * 4)
    error = _load_error(page)
    assert error.kind == "bad_input"
    assert "not a GGUF model" in error.message and "HTML" in error.message


def test_truncated_gguf(tmp_path: Path, smollm2_path: Path) -> None:
    cut = tmp_path / "partial.gguf"
    with smollm2_path.open("rb") as source:
        cut.write_bytes(source.read(50_000_000))
    error = _load_error(cut)
    assert error.kind == "bad_input" and "truncated" in error.message and "missing" in error.message


def test_unsupported_architecture_is_reported_by_name(gguf_writer: GGUFWriter) -> None:
    path = gguf_writer("alien.gguf", [("general.architecture", "str", "alienformer"),
                                      ("alienformer.context_length", "u32", 512)])
    error = _load_error(path)
    assert error.kind == "unsupported"
    assert "'alienformer' is not supported" in error.message


def test_missing_file() -> None:
    error = _load_error("/nonexistent/model.gguf")
    assert error.kind == "not_found"


def test_context_larger_than_the_model_allows(smollm2_path: Path) -> None:
    error = _load_error(smollm2_path, n_ctx=100_000)
    assert error.kind == "bad_input"
    assert "context 100000 is larger than" in error.message and "8192" in error.message


def test_memory_fit_refusal_gives_the_numbers_and_force_loads(smollm2_path: Path) -> None:
    error = _load_error(smollm2_path, n_ctx=8192, memory_limit=200 * 2**20)
    assert error.kind == "out_of_memory"
    assert "will not fit: it needs about" in error.message
    assert "KV cache 180 MiB at context 8192" in error.message  # 2 x 30 x 8192 x 192 x 2 bytes
    assert "200 MiB of RAM (your memory limit)" in error.message and "force=true" in error.message
    with InProcessClient.for_engine("llm") as client:
        info = client.load(str(smollm2_path), "cpu", {"n_ctx": 256, "memory_limit": 200 * 2**20, "force": True})
        assert info["memory"]["forced"] is True and info["memory"]["verdict"] == "will not fit"


def test_gpu_device_without_gpu_build(smollm2_path: Path) -> None:
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama.cpp build can offload to a GPU")
    error = _load_error(smollm2_path, device="cuda:0")
    assert error.kind == "device" and "no GPU support" in error.message
    assert _load_error(smollm2_path, device="tpu:3").kind == "device"


def test_bad_options_and_chat_format(smollm2_path: Path) -> None:
    assert "unknown load option" in _load_error(smollm2_path, n_ctxx=5).message
    assert "unknown chat format" in _load_error(smollm2_path, chat_format="nope").message
