"""The quality op on real llama.cpp: SmolLM2 re-quantized to Q8_0 and Q4_0, scored on the shipped text."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.base import DirectContext, EngineError, ErrorKind, RunCancelled
from engines.llm.engine import LlamaEngine
from engines.llm.quantize import quantize
from engines.llm.reference_logits import load_reference

TEXT = Path(__file__).resolve().parents[3] / "resources" / "texts" / "kjv-genesis.txt"
CTX, CHUNKS = 128, 2


@pytest.fixture(scope="module")
def quants(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("quants")
    return {kind: Path(quantize(smollm2_path, folder / f"smollm2.{kind}.gguf", kind)["path"])
            for kind in ("Q8_0", "Q4_0")}


def _engine(path: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(str(path), "cpu", {"n_ctx": CTX, "n_batch": CTX, "threads": 1}, DirectContext())
    return engine


@pytest.fixture(scope="module")
def q8(quants: dict[str, Path]) -> Iterator[LlamaEngine]:
    engine = _engine(quants["Q8_0"])
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def q8_reference(q8: LlamaEngine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Mapping[str, Any]]:
    path = tmp_path_factory.mktemp("reference") / "q8.npz"
    result = q8.run("quality", {"text_path": str(TEXT), "ctx": CTX, "chunks": CHUNKS,
                                "write_reference": str(path), "top_k": 32}, DirectContext())
    return path, result


def test_perplexity_scores_the_second_half_of_each_chunk(q8_reference: tuple[Path, Mapping[str, Any]]) -> None:
    path, result = q8_reference
    assert result["n_chunks"] == CHUNKS
    assert result["tokens_scored"] == CHUNKS * (CTX - 1 - CTX // 2)
    assert 1.0 < result["ppl"] < 200.0  # the King James text is ordinary English to a 135M model
    assert result["ppl_uncertainty"] > 0
    assert result["chunk_ppl"][-1] == pytest.approx(result["ppl"])
    reference = load_reference(path)
    assert reference.top_ids.shape == (result["tokens_scored"], 32)
    # The stored NLLs are the scored tokens': their mean is log PPL.
    assert float(reference.nll.astype(np.float64).mean()) == pytest.approx(np.log(result["ppl"]), rel=1e-5)
    assert result["reference_written"]["bytes"] == path.stat().st_size


def test_a_model_against_itself_has_zero_kl(q8: LlamaEngine, q8_reference: tuple[Path, Mapping[str, Any]]) -> None:
    path, written = q8_reference
    result = q8.run("quality", {"reference": str(path)}, DirectContext())
    assert result["kld_mean"] == pytest.approx(0.0, abs=1e-6)
    assert result["kld_p99"] == pytest.approx(0.0, abs=1e-5)
    assert result["same_top_pct"] == 100.0
    assert result["delta_ppl"] == pytest.approx(0.0, abs=1e-4)
    assert result["ppl"] == pytest.approx(written["ppl"], rel=1e-6)


def test_q4_0_diverges_from_q8_0(quants: dict[str, Path], q8_reference: tuple[Path, Mapping[str, Any]]) -> None:
    path, written = q8_reference
    engine = _engine(quants["Q4_0"])
    try:
        result = engine.run("quality", {"reference": str(path)}, DirectContext())
    finally:
        engine.unload()
    assert result["kld_mean"] > 0.001
    assert result["kld_p99"] > result["kld_mean"]
    assert result["delta_ppl"] > 0
    assert result["ppl_base"] == pytest.approx(written["ppl"], rel=1e-5)
    assert result["same_top_pct"] < 100.0
    assert result["metrics"]["kld_mean"] == result["kld_mean"]


class _CancelAfterFirstChunk(DirectContext):
    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        if done >= 1:
            self.cancel_event.set()


def test_cancel_stops_between_chunks_with_what_was_scored(q8: LlamaEngine) -> None:
    with pytest.raises(RunCancelled) as caught:
        q8.run("quality", {"text_path": str(TEXT), "ctx": CTX, "chunks": CHUNKS}, _CancelAfterFirstChunk())
    summary = caught.value.args[0]
    assert summary["n_chunks"] == 1
    assert summary["tokens_scored"] == CTX - 1 - CTX // 2
    # The model is usable afterwards: the cache was cleared.
    again = q8.run("complete", {"prompt": "In the beginning", "max_tokens": 4, "stream": False}, DirectContext())
    assert again["text"]


def test_bad_requests_are_refused_clearly(q8: LlamaEngine, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as short:
        q8.run("quality", {"text": "In the beginning God created the heaven and the earth.", "ctx": CTX},
               DirectContext())
    assert short.value.kind == ErrorKind.BAD_INPUT and "at least 256" in short.value.message
    with pytest.raises(EngineError) as wide:
        q8.run("quality", {"text_path": str(TEXT), "ctx": 4 * CTX}, DirectContext())
    assert "larger than the loaded context" in wide.value.message
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a reference")
    with pytest.raises(EngineError) as broken:
        q8.run("quality", {"reference": str(bogus)}, DirectContext())
    assert broken.value.kind == ErrorKind.BAD_INPUT


def test_cancel_from_another_thread_is_prompt(q8: LlamaEngine) -> None:
    ctx = DirectContext()
    timer = threading.Timer(0.05, ctx.cancel_event.set)
    timer.start()
    try:
        with pytest.raises(RunCancelled):
            q8.run("quality", {"text_path": str(TEXT), "ctx": CTX}, ctx)
    finally:
        timer.cancel()
