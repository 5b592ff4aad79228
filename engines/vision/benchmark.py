"""The ``benchmark`` operation: inference latency on synthetic input for several batch sizes and backends."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.metrics import latency_summary
from engines.base import EngineError, ErrorKind, RunContext
from engines.vision.runtime import Runtime


def _int_list(value: Any, default: Sequence[int]) -> list[int]:
    if value is None:
        return list(default)
    items = [value] if isinstance(value, int | str) else list(value)
    try:
        out = [int(v) for v in items]
    except (TypeError, ValueError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"batch sizes must be whole numbers, got {value!r}") from exc
    if not out or min(out) < 1:
        raise EngineError(ErrorKind.BAD_INPUT, f"batch sizes must be >= 1, got {value!r}")
    return out


def benchmark(runtime: Runtime, params: Mapping[str, Any], ctx: RunContext, *, backend: str,
              precision: str) -> dict[str, Any]:
    """Warm-up, then timed runs per (backend, batch size); cold first-run time kept apart."""
    sizes = _int_list(params.get("batch_sizes"), (1, 8))
    iterations = max(1, int(params.get("iterations", 20)))
    warmup = max(0, int(params.get("warmup", 3)))
    backends = [str(b) for b in (params.get("backends") or [backend])]
    precision = str(params.get("precision", precision))
    height, width = runtime.model.preprocess.input_size
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    series: dict[str, list[list[float]]] = {}
    total = len(backends) * len(sizes) * (iterations + warmup)
    done = 0
    for name in backends:
        engine_backend = runtime.get(name, precision)
        for size in sizes:
            inputs = rng.standard_normal((size, 3, height, width)).astype(np.float32)
            t0 = time.perf_counter()
            engine_backend.infer(inputs)
            cold_ms = (time.perf_counter() - t0) * 1000
            for _ in range(max(0, warmup - 1)):
                ctx.check_cancelled()
                engine_backend.infer(inputs)
            done += warmup
            times: list[float] = []
            key = f"{name}_{precision}_b{size}"
            points = series.setdefault(f"{key}_latency_ms", [])
            for _ in range(iterations):
                ctx.check_cancelled()
                start = time.perf_counter()
                engine_backend.infer(inputs)
                end = time.perf_counter()
                times.append((end - start) * 1000)
                points.append([end, times[-1]])
                done += 1
                ctx.progress(done, total, f"{name} {precision} batch {size}")
            summary = latency_summary(times)
            images_per_s = size * 1000.0 / summary["latency_median_ms"]
            row = {"backend": name, "precision": precision, "device": engine_backend.device, "batch": size,
                   "iterations": iterations, "cold_ms": cold_ms, "images_per_s": images_per_s,
                   "per_image_ms": summary["latency_median_ms"] / size, **summary,
                   "details": engine_backend.details}
            rows.append(row)
            metrics.update({f"{key}_{k}": v for k, v in summary.items()})
            metrics[f"{key}_images_per_s"] = images_per_s
            metrics[f"{key}_cold_ms"] = cold_ms
    return {"model": runtime.model.name, "device": runtime.device, "threads": runtime.threads,
            "input_size": [3, height, width], "rows": rows, "metrics": metrics, "series": series}
