"""The one-line summary of a finished classify run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What engines/vision/scoring.py measures: the summary's tooltip and the words after "latency".
LATENCY_EXPLAINED = (
    "Latency: from starting on an image to its answer = its decode + its preprocess + its whole batch's "
    "inference and postprocess (queueing excluded).\n"
    "The per-image stage times divide a batch's inference and postprocess by the batch size, so at batch N "
    "latency ≈ decode + preprocess + N × inference.\n"
    "images/s counts everything (decode, preprocess, inference) over the run's wall time."
)


def summary_line(result: Mapping[str, Any], batch: int | None = None) -> str:
    """One line about a finished classify run: counts, rate, latency (what it adds up) and where it ran."""
    metrics = result.get("metrics") or {}
    parts = [f"{int(result.get('classified', metrics.get('images', 0)))} of {int(result.get('images', 0))} images"]
    if result.get("failed"):
        parts.append(f"{int(result['failed'])} failed")
    if "images_per_s" in metrics:
        parts.append(f"{metrics['images_per_s']:.1f} images/s")
    if "latency_mean_ms" in metrics:
        whose = f"its batch of {batch}'s" if batch and batch > 1 else "its"
        parts.append(f"latency mean {metrics['latency_mean_ms']:.0f} ms, p90 {metrics.get('latency_p90_ms', 0):.0f} ms "
                     f"(decode + preprocess + {whose} inference)")
    stages = [f"{s} {metrics[f'{s}_ms_mean']:.1f}" for s in ("decode", "preprocess", "inference")
              if f"{s}_ms_mean" in metrics]
    if stages:
        share = f", inference = batch ÷ {batch}" if batch and batch > 1 else ""
        parts.append("per image " + " / ".join(stages) + f" ms{share}")
    if result.get("backend"):
        parts.append(f"{result['backend']} {result.get('precision', '')} on {result.get('device', '')}")
    return " · ".join(parts)
