"""Checks across rows: a device no faster than the CPU, and where an accelerator overtakes the CPU.

Per-row flags (failures, ONNX Runtime falling back to the CPU provider, top-1 answers that differ from the
fp32 CPU reference) are set while measuring; these need the whole session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.compare.results import INFO, ResultRow


@dataclass(frozen=True)
class Headline:
    """The number a workload is judged by, and which way is better."""

    metric: str
    higher_is_better: bool
    words: str


HEADLINES = {
    "llm": Headline("tg_tokens_per_s", True, "tokens/s (tg)"),
    "vision": Headline("images_per_s", True, "images/s"),
    "bayes": Headline("query_median_ms", False, "ms per query"),
    "endpoint": Headline("output_tokens_per_s", True, "output tokens/s under load"),
}


def _peers(row: ResultRow, cpu_rows: Sequence[ResultRow]) -> list[ResultRow]:
    """The CPU rows to hold ``row`` against: same backend, precision and variant where there is one."""
    def same(other: ResultRow, *keys: str) -> bool:
        return all(getattr(other, k) == getattr(row, k) for k in keys)

    for keys in (("backend", "precision", "variant"), ("precision", "variant"), ("precision",), ()):
        found = [c for c in cpu_rows if same(c, *keys)]
        if found:
            return found
    return []


def _is_cpu(row: ResultRow) -> bool:
    local = row.device.rpartition("/")[2]  # a node's CPU (n2/cpu) is a CPU too
    return local == "cpu" or local.startswith("ort:CPUExecutionProvider")


def apply_cross_row_flags(rows: Sequence[ResultRow]) -> list[ResultRow]:
    """Add ``no_faster_than_cpu`` and ``overtakes_cpu`` flags; returns the rows whose flags changed."""
    changed: list[ResultRow] = []
    for workload, headline in HEADLINES.items():
        measured = [r for r in rows if r.workload == workload and r.ok and headline.metric in r.metrics]
        cpu_rows = [r for r in measured if _is_cpu(r)]
        for row in measured:
            if _is_cpu(row):
                continue
            peers = _peers(row, cpu_rows)
            if not peers:
                continue
            before = [f.to_dict() for f in row.flags]
            _compare(row, peers, headline)
            if workload == "vision":
                _crossover(row, peers)
            if [f.to_dict() for f in row.flags] != before:
                changed.append(row)
    return changed


def _compare(row: ResultRow, peers: Sequence[ResultRow], headline: Headline) -> None:
    values = [p.metrics[headline.metric] for p in peers]
    best_cpu = max(values) if headline.higher_is_better else min(values)
    mine = row.metrics[headline.metric]
    slower = mine <= best_cpu if headline.higher_is_better else mine >= best_cpu
    if slower:
        ratio = mine / best_cpu if best_cpu else 0.0
        row.flag("no_faster_than_cpu", f"{row.device} is no faster than the CPU: {mine:.4g} vs {best_cpu:.4g} "
                                       f"{headline.words} ({ratio:.2f}x){_hint(row)}")


def _hint(row: ResultRow) -> str:
    if row.has_flag("cpu_fallback"):
        return "; ONNX Runtime fell back to the CPU provider"
    return "; check that the work really runs on the device"


def _crossover(row: ResultRow, peers: Sequence[ResultRow]) -> None:
    """The smallest batch size at which the device beats the CPU's best at that batch size."""
    sizes = sorted(int(k[1:].split("_")[0]) for k in row.metrics if k.startswith("b") and
                   k.endswith("_images_per_s"))
    for batch in sizes:
        key = f"b{batch}_images_per_s"
        cpu_best = max((p.metrics.get(key, 0.0) for p in peers), default=0.0)
        if cpu_best and row.metrics[key] > cpu_best:
            row.metrics["overtakes_cpu_at_batch"] = float(batch)
            row.flag("overtakes_cpu", f"{row.device} overtakes the CPU from batch {batch} "
                                      f"({row.metrics[key]:.4g} vs {cpu_best:.4g} images/s)", INFO)
            return
