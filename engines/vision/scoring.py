"""The batch loop shared by ``classify`` and ``eval``: prefetch, infer, softmax, time every stage.

Per image: decode and preprocess are its own; inference and postprocess are its batch's times divided by
the batch size; latency is decode + preprocess + the whole batch's inference and postprocess (the time
from starting on the image to its answer, excluding queueing). The pure inference rate counts inference
time only; ``pipeline_efficiency`` is the end-to-end rate over it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.metrics import latency_summary
from engines.base import RunContext
from engines.vision.backend import Backend
from engines.vision.pipeline import ONE_DECODER, DecodePlan, Prefetcher, Prepared
from engines.vision.postprocess import probabilities
from engines.vision.preprocess import PreprocessConfig


@dataclass
class Scored:
    """One image after inference (``probs`` is None when it could not be prepared)."""

    item: Prepared
    probs: np.ndarray | None
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    latency_ms: float = 0.0
    batch_size: int = 0
    t: float = 0.0

    def times(self) -> dict[str, float]:
        """Stage times in milliseconds."""
        return {"decode": round(self.item.decode_ms, 3), "preprocess": round(self.item.preprocess_ms, 3),
                "inference": round(self.inference_ms, 3), "postprocess": round(self.postprocess_ms, 3)}


@dataclass
class RunStats:
    """Running totals for the summary at the end (or at a cancel)."""

    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    failed: int = 0
    inference_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {"decode": [], "preprocess": [],
                                                                     "inference": [], "postprocess": []})
    series: list[list[float]] = field(default_factory=list)

    def add(self, scored: Scored) -> None:
        """Count one image."""
        if scored.probs is None:
            self.failed += 1
            return
        self.done += 1
        self.latencies.append(scored.latency_ms)
        for stage, value in scored.times().items():
            self.stages[stage].append(value)
        self.series.append([scored.t, scored.latency_ms])

    def metrics(self) -> dict[str, float]:
        """images/s, latency mean/median/p90/p99, stage means and the pipeline efficiency."""
        wall = time.perf_counter() - self.started
        out: dict[str, float] = {"images": float(self.done), "failed": float(self.failed), "wall_s": wall}
        if self.done:
            out["images_per_s"] = self.done / wall if wall > 0 else 0.0
            out.update(latency_summary(self.latencies))
            for stage, values in self.stages.items():
                out[f"{stage}_ms_mean"] = float(np.mean(values))
            if self.inference_s > 0:
                out["inference_images_per_s"] = self.done / self.inference_s
                out["pipeline_efficiency"] = out["images_per_s"] / out["inference_images_per_s"]
        return out


def score_request(backend: Backend, paths: Sequence[Path], config: PreprocessConfig, params: Mapping[str, Any], *,
                  batch: int, ctx: RunContext, stats: RunStats, decode: DecodePlan) -> Iterator[Scored]:
    """Every image of a request scored, in input order, with progress after each batch.

    The request's own ``batch`` and ``fast_decode`` override the engine's settings.
    """
    size = max(1, int(params.get("batch", batch)))
    for scored_batch in score_stream(backend, paths, config, batch=size, ctx=ctx, stats=stats, decode=decode,
                                     fast_decode=bool(params.get("fast_decode", True))):
        yield from scored_batch
        ctx.progress(stats.done + stats.failed, len(paths))


def score_stream(backend: Backend, paths: Sequence[Path], config: PreprocessConfig, *, batch: int,
                 ctx: RunContext, stats: RunStats, decode: DecodePlan = ONE_DECODER,
                 fast_decode: bool = True) -> Iterator[list[Scored]]:
    """Batches of scored images, in input order; checks for a cancel before each batch."""
    with Prefetcher(paths, config, plan=decode, depth=2 * batch, fast_decode=fast_decode) as prefetcher:
        for items in prefetcher.batches(batch):
            ctx.check_cancelled()
            ready = [p for p in items if p.ok]
            probs: np.ndarray | None = None
            infer_ms = post_ms = 0.0
            if ready:
                t0 = time.perf_counter()
                logits = backend.infer(np.stack([p.array for p in ready if p.array is not None]))
                t1 = time.perf_counter()
                probs = probabilities(logits)
                t2 = time.perf_counter()
                infer_ms, post_ms = (t1 - t0) * 1000, (t2 - t1) * 1000
                stats.inference_s += t1 - t0
            now = time.perf_counter()
            out: list[Scored] = []
            row = 0
            for item in items:
                if not item.ok or probs is None:
                    scored = Scored(item, None, t=now)
                else:
                    n = len(ready)
                    scored = Scored(item, probs[row], infer_ms / n, post_ms / n,
                                    item.decode_ms + item.preprocess_ms + infer_ms + post_ms, n, now)
                    row += 1
                stats.add(scored)
                out.append(scored)
            yield out
