"""llama-bench's measurement loops (engines/llm/decode_loop.py) and the bench op on real llama.cpp.

Rates are checked for sanity only (a shared machine moves them); exactness is checked where it can be:
tokens the KV cache really holds after each loop, llama-bench's averaging of per-repetition rates, cancel.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import RequestCancelledError
from app.supervisor import InProcessClient
from engines.base import DirectContext, RunCancelled
from engines.llm.bench import run_bench
from engines.llm.decode_loop import BenchContext

FACTS = {"threads": 1, "n_batch": 512, "n_ubatch": 512, "cache_type_k": "f16", "cache_type_v": "f16",
         "flash_attn": False}


@pytest.fixture(scope="module")
def llm(smollm2_path: Path) -> Iterator[Any]:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(smollm2_path), n_ctx=512, n_batch=512, n_threads=1,
                            n_threads_batch=1, verbose=False)
    yield model
    model.close()


def _context(llm: Any, n_ctx: int, *, n_batch: int = 512, n_ubatch: int = 512,
             flash_attn: str = "auto") -> BenchContext:
    return BenchContext(llm._model.model, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_ubatch, type_k=1, type_v=1,
                        flash_attn=flash_attn, threads=1, threads_batch=1)


def _never() -> bool:
    return False


def test_loops_evaluate_exactly_the_tokens_asked_for(llm: Any) -> None:
    rng = random.Random(7)
    with _context(llm, 256, n_batch=96) as bench:
        assert bench.positions() == 0
        # 200 prompt tokens in batches of 96: 96 + 96 + 8, all in the cache afterwards.
        prompt_s = bench.prompt(200, rng, _never)
        assert bench.positions() == 200
        bench.clear()
        assert bench.positions() == 0
        gen_s = bench.generate(40, rng, _never)
        assert bench.positions() == 40
    # Plausible rates for a 135M model on one thread, even on a crowded machine (idle: ~90 and ~45 t/s).
    assert 200 / prompt_s > 1.0 and 40 / gen_s > 1.0


def test_generation_stops_at_the_token_a_cancel_arrives(llm: Any) -> None:
    calls = 0

    def after_five() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 5

    with _context(llm, 128) as bench, pytest.raises(RunCancelled):
        bench.generate(100, random.Random(1), after_five)
    with _context(llm, 128) as bench:
        with pytest.raises(RunCancelled):
            bench.generate(100, random.Random(1), lambda: bench.positions() >= 7)
        assert bench.positions() == 7


def test_a_cancel_aborts_a_prompt_batch_inside_llama_cpp(llm: Any) -> None:
    with _context(llm, 512, n_ubatch=64) as bench:
        full = bench.prompt(512, random.Random(2), _never)
        bench.clear()
        t0 = time.perf_counter()
        with pytest.raises(RunCancelled):
            bench.prompt(512, random.Random(2), lambda: True)
        # Aborted at the first graph node llama.cpp checked: well before the whole batch was evaluated.
        assert time.perf_counter() - t0 < full / 2
        assert bench.positions() < 512
        # The context stays usable after an abort.
        bench.clear()
        bench.generate(3, random.Random(3), _never)
        assert bench.positions() == 3


def test_run_bench_averages_per_repetition_rates_like_llama_bench(llm: Any) -> None:
    ctx = DirectContext(keep=True)
    result = run_bench(llm, {"n_prompt": 64, "n_gen": 16, "repetitions": 3}, ctx, FACTS)
    assert [t["test"] for t in result["tests"]] == ["pp64", "tg16"]
    for test, count in zip(result["tests"], (64, 16), strict=True):
        assert len(test["samples_ns"]) == len(test["samples_ts"]) == 3
        # llama-bench: avg_ts = mean of n / t per repetition (not n / mean t), stddev_ts the sample stdev.
        for ns, ts in zip(test["samples_ns"], test["samples_ts"], strict=True):
            assert ts == pytest.approx(count * 1e9 / ns, rel=1e-6)
        assert test["avg_ts"] == pytest.approx(statistics.mean(test["samples_ts"]))
        assert test["stddev_ts"] == pytest.approx(statistics.stdev(test["samples_ts"]))
        assert test["avg_ns"] == pytest.approx(statistics.mean(test["samples_ns"]), abs=1)
    assert result["metrics"]["pp_tokens_per_s"] > 1.0 and result["metrics"]["tg_tokens_per_s"] > 1.0
    # Flash attention is left to llama.cpp (llama-bench's default) when the model was loaded without it.
    assert result["model"]["flash_attn"] == "auto"
    messages = [m for _, _, m in ctx.progress_log]
    assert messages == ["pp64 warm-up", "pp64 run 1/3", "pp64 run 2/3", "pp64 run 3/3", "tg16 warm-up",
                        "tg16 run 1/3", "tg16 run 2/3", "tg16 run 3/3", "done"]
    # The loaded model's own context is never touched.
    assert llm.n_tokens == 0


def test_run_bench_refuses_bad_settings(llm: Any) -> None:
    with pytest.raises(Exception, match="flash_attn must be auto, on or off"):
        run_bench(llm, {"n_prompt": 8, "n_gen": 0, "flash_attn": "maybe"}, DirectContext(), FACTS)
    with pytest.raises(Exception, match="n_prompt or n_gen above 0"):
        run_bench(llm, {"n_prompt": 0, "n_gen": 0}, DirectContext(), FACTS)
    with pytest.raises(Exception, match="bench needs a context of 1024"):
        run_bench(llm, {"n_prompt": 1024, "n_gen": 0}, DirectContext(), FACTS)


def test_flash_attention_choices_all_measure(llm: Any) -> None:
    for choice, loaded in (("on", False), (None, True), (False, False)):
        params: dict[str, Any] = {"n_prompt": 16, "n_gen": 4, "repetitions": 1}
        if choice is not None:
            params["flash_attn"] = choice
        result = run_bench(llm, params, DirectContext(), {**FACTS, "flash_attn": loaded})
        assert result["model"]["flash_attn"] == ("off" if choice is False else "on")
        assert all(t["avg_ts"] > 0 for t in result["tests"])


def test_the_bench_op_is_cancelled_promptly(smollm2_path: Path) -> None:
    client = InProcessClient.for_engine("llm")
    try:
        client.load(str(smollm2_path), "cpu", {"n_ctx": 512, "threads": 1})
        handle = client.submit("bench", {"n_prompt": 512, "n_gen": 512, "repetitions": 50})
        timer = threading.Timer(1.0, handle.cancel)
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(RequestCancelledError):
            handle.result(timeout=60)
        timer.join()
        # 50 repetitions of pp512 + tg512 take minutes; the cancel lands within a prompt batch.
        assert time.perf_counter() - t0 < 20
        # The engine answers normally afterwards.
        again = client.call("bench", {"n_prompt": 8, "n_gen": 2, "repetitions": 1})
        assert [t["test"] for t in again["tests"]] == ["pp8", "tg2"]
    finally:
        client.close()
