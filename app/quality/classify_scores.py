"""Text and PNG forms of an evaluation's probability scores (AUC, calibration, top-k) for the command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def probability_lines(result: Mapping[str, Any]) -> list[str]:
    """AUC-ROC / AUC-PR (macro and per class), ECE / MCE and top-k accuracies; empty when not measured."""
    from app.text_table import format_table

    scores = result.get("probability")
    if not scores:
        return []

    def area(value: Any) -> str:
        return "-" if value is None else f"{float(value):.4f}"

    topk = "   ".join(f"top-{k} {100 * float(v):.2f}%" for k, v in (scores.get("topk_accuracy") or {}).items())
    lines = [f"AUC-ROC (macro, one-vs-rest) {area(scores.get('auc_roc_macro'))}   "
             f"AUC-PR (macro) {area(scores.get('auc_pr_macro'))}   over {scores.get('auc_classes_scored')} classes",
             f"ECE {float(scores['ece']):.4f}   MCE {float(scores['mce']):.4f}   "
             f"({scores['reliability']['n_bins']} equal-width confidence bins)",
             topk, ""]
    rows = [(c["class"], area(c["auc_roc"]), area(c["auc_pr"]), c["positives"]) for c in scores["auc_per_class"]]
    lines.append(format_table(("class", "AUC-ROC", "AUC-PR", "images"), rows, align_right=(1, 2, 3)))
    return lines


def write_reliability_png(result: Mapping[str, Any], path: str | Path) -> Path:
    """The evaluation's reliability diagram as a PNG."""
    from app.quality.png_charts import reliability_png

    scores = result.get("probability")
    if not scores:
        raise ValueError("the evaluation has no probability scores")
    title = f"{result.get('model', 'model')} on {Path(str(result.get('folder', ''))).name}"
    return reliability_png(scores["reliability"], float(scores["ece"]), path, title=title)
