"""A benchmark point in the history: one run (engine ``serve-bench``, op ``bench-serve``) whose samples are
the per-request TTFT, first-content TTFT, TPOT, E2EL and every ITL, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from app.history import History
from app.loadgen.config import BenchConfig
from app.loadgen.result import BenchResult

ENGINE = "serve-bench"
OP = "bench-serve"


def device_label(config: BenchConfig) -> str:
    """How the endpoint shows as a device: ``endpoint:http://host:port``."""
    return f"endpoint:{config.root_url}"


def start_point(history: History, config: BenchConfig, tags: Sequence[str] = (),
                compare_id: str | None = None) -> str:
    """The run row of a point that is starting; returns its id."""
    params: dict[str, Any] = {
        "base_url": config.base_url, "endpoint": config.endpoint, "dataset": config.dataset,
        "dataset_path": config.dataset_path, "input_len": config.input_len, "output_len": config.output_len,
        "num_prompts": config.num_prompts, "max_concurrency": config.max_concurrency,
        "request_rate": "inf" if math.isinf(config.request_rate) else config.request_rate,
        "burstiness": config.burstiness, "goodput": dict(config.goodput), "seed": config.seed,
        "tokenizer": config.tokenizer, "percentiles": list(config.percentiles),
    }
    return history.start_run(engine=ENGINE, op=OP, kind="llm", model_id=config.model, device=device_label(config),
                             params=params, tags=tags, compare_id=compare_id)


def _samples(result: BenchResult) -> Iterator[tuple[str, float, float]]:
    for out in result.outputs:
        if not out.success:
            continue
        t = out.start_time - result.arrival_start
        yield "ttft_ms", t, out.ttft * 1000
        if out.first_content_ttft is not None:
            yield "first_content_ttft_ms", t, out.first_content_ttft * 1000
        yield "e2el_ms", t, out.latency * 1000
        if out.output_tokens > 1:
            yield "tpot_ms", t, (out.latency - out.ttft) / (out.output_tokens - 1) * 1000
        yield "output_tokens", t, float(out.output_tokens)
        when = t + out.ttft
        for gap in out.itl:
            when += gap
            yield "itl_ms", when, gap * 1000


def finish_point(history: History, run_id: str, result: BenchResult) -> None:
    """Store the samples and how the point ended; sets ``result.run_id``."""
    history.add_samples(run_id, _samples(result))
    errors = sorted({o.error for o in result.outputs if o.error})
    error = "; ".join(errors[:3]) if result.status == "failed" else None
    metrics = {k: v for k, v in result.to_vllm_json().items() if isinstance(v, int | float | str | type(None))}
    metrics["ttft_ms"] = result.metrics["median_ttft_ms"]  # the name every engine's runs use (history lists it)
    history.finish_run(run_id, result.status, metrics=metrics, error=error, result=result.to_vllm_json())
    result.run_id = run_id


def fail_point(history: History, run_id: str, error: str) -> None:
    """End a point's run that never produced a result."""
    history.finish_run(run_id, "failed", error=error)
