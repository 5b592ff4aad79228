"""Speed x quality per configuration, with the Pareto front: the configurations nothing beats on both.

Axes per workload: LLM tg tokens/s against KL divergence from the reference quantization; vision images/s
against top-1 agreement with the fp32 CPU reference (the comparison has no labelled set, so agreement stands
in for accuracy); Bayesian networks queries/s against the largest posterior error of the method. The GUI
(ui/compare/charts.py), the Markdown export and the command line's PNG all read :func:`speed_quality`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.compare.results import CompareSession, ResultRow
from app.quality.pareto import Point, pareto_front


@dataclass(frozen=True)
class Axes:
    """What a workload's chart plots."""

    speed: Callable[[ResultRow], float | None]
    speed_label: str
    quality: str  # metric name
    quality_label: str
    higher_quality_is_better: bool
    quality_short: str = ""  # axis title where space is short


def _metric(name: str) -> Callable[[ResultRow], float | None]:
    return lambda row: row.metrics.get(name)


def _queries_per_s(row: ResultRow) -> float | None:
    median = row.metrics.get("query_median_ms")
    return 1000.0 / median if median else None


AXES = {
    "llm": Axes(_metric("tg_tokens_per_s"), "tg tokens/s", "kld_mean", "mean KL divergence from the reference "
                "quantization (lower is better)", False, "mean KL divergence"),
    "vision": Axes(_metric("images_per_s"), "images/s (best batch)", "top1_agreement",
                   "top-1 agreement with fp32 (higher is better)", True, "top-1 agreement"),
    "bayes": Axes(_queries_per_s, "queries/s (median)", "max_error", "largest posterior error vs exact "
                  "(lower is better)", False, "max posterior error"),
}


@dataclass
class SpeedQuality:
    """One workload's points, which are on the front, and the axes."""

    workload: str
    axes: Axes
    points: list[Point]
    front: list[bool]


def _label(row: ResultRow, session: CompareSession, several: bool) -> str:
    parts = [row.device, row.backend if row.workload == "vision" else "", row.precision if row.workload != "bayes"
             else "", row.variant]
    text = " ".join(p for p in parts if p)
    return f"{session.machine.get('id', '')[:4]}: {text}" if several else text


def speed_quality(sessions: Sequence[CompareSession], workload: str) -> SpeedQuality | None:
    """The measured configurations that have both a speed and a quality figure (None when under two)."""
    axes = AXES.get(workload)
    if axes is None:  # a workload without a quality figure (endpoints)
        return None
    several = len({s.id for s in sessions}) > 1
    points = []
    for session in sessions:
        for row in session.results:
            if row.workload != workload or not row.ok:
                continue
            speed, quality = axes.speed(row), row.metrics.get(axes.quality)
            if speed is not None and quality is not None:
                points.append(Point(_label(row, session, several), speed, quality))
    if len(points) < 2:
        return None
    front = pareto_front(points, higher_x=True, higher_y=axes.higher_quality_is_better)
    return SpeedQuality(workload, axes, points, front)


def pareto_markdown(chart: SpeedQuality) -> str:
    """The points as a Markdown table, front first, fastest first."""
    rows = sorted(zip(chart.points, chart.front, strict=True), key=lambda pf: (not pf[1], -pf[0].x))
    lines = [f"| configuration | {chart.axes.speed_label} | {chart.axes.quality} | Pareto front |",
             "| --- | ---: | ---: | :---: |"]
    lines += [f"| {p.label} | {p.x:.4g} | {p.y:.4g} | {'yes' if on else ''} |" for p, on in rows]
    return "\n".join(lines)


def write_pareto_png(chart: SpeedQuality, path: str | Path) -> Path:
    """The scatter as a PNG (Pillow)."""
    from app.quality.png_charts import scatter_png

    return scatter_png(chart.points, chart.front, path, title=f"{chart.workload}: speed x quality",
                       x_label=chart.axes.speed_label, y_label=chart.axes.quality_label)
