"""The one-line summary of a finished classify run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def summary_line(result: Mapping[str, Any]) -> str:
    """One line about a finished classify run: counts, rate, latency and where it ran."""
    metrics = result.get("metrics") or {}
    parts = [f"{int(result.get('classified', metrics.get('images', 0)))} of {int(result.get('images', 0))} images"]
    if result.get("failed"):
        parts.append(f"{int(result['failed'])} failed")
    if "images_per_s" in metrics:
        parts.append(f"{metrics['images_per_s']:.1f} images/s")
    if "latency_mean_ms" in metrics:
        parts.append(f"latency mean {metrics['latency_mean_ms']:.0f} ms, p90 {metrics.get('latency_p90_ms', 0):.0f} ms")
    stages = [f"{s} {metrics[f'{s}_ms_mean']:.1f}" for s in ("decode", "preprocess", "inference")
              if f"{s}_ms_mean" in metrics]
    if stages:
        parts.append("per image " + " / ".join(stages) + " ms")
    if result.get("backend"):
        parts.append(f"{result['backend']} {result.get('precision', '')} on {result.get('device', '')}")
    return " · ".join(parts)
