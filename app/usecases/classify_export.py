"""Classification results and evaluations as files: one CSV and one JSON format, for the CLI and the GUI."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STAGES = ("decode", "preprocess", "inference", "postprocess")
TOP = 5


def results_header(topk: int = TOP) -> list[str]:
    """The CSV columns of per-image results."""
    header = ["path", "ok", "error"]
    for n in range(1, topk + 1):
        header += [f"label_{n}", f"index_{n}", f"prob_{n}"]
    return header + [f"{stage}_ms" for stage in STAGES] + ["latency_ms"]


def result_line(row: Mapping[str, Any], topk: int = TOP) -> list[Any]:
    """One image's CSV row from an engine ``classify`` row (``ok`` rows carry ``top``, failed ones ``error``)."""
    line: list[Any] = [row.get("path", ""), int(bool(row.get("ok"))), row.get("error") or ""]
    top = list(row.get("top") or [])
    for n in range(topk):
        if n < len(top):
            line += [top[n].get("label", ""), top[n].get("index", ""), f"{float(top[n]['prob']):.6f}"]
        else:
            line += ["", "", ""]
    times = row.get("times_ms") or {}
    line += [f"{float(times[s]):.3f}" if s in times else "" for s in STAGES]
    latency = row.get("latency_ms")
    line.append("" if latency is None else f"{float(latency):.3f}")
    return line


def write_results(target: str | Path, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any] | None = None,
                  *, fmt: str | None = None, topk: int = TOP) -> str:
    """Write per-image results as CSV or JSON (by ``fmt``, else the suffix); ``-`` is standard output."""
    name = str(target)
    kind = fmt or ("json" if name.lower().endswith(".json") else "csv")
    if kind == "json":
        text = json.dumps({"results": [dict(r) for r in rows], "summary": dict(summary or {})}, indent=2,
                          default=str)
        if name == "-":
            sys.stdout.write(text + "\n")
        else:
            Path(name).write_text(text + "\n", encoding="utf-8")
        return name
    with contextlib.ExitStack() as stack:
        handle = sys.stdout if name == "-" else stack.enter_context(open(name, "w", newline="", encoding="utf-8"))
        writer = csv.writer(handle)
        writer.writerow(results_header(topk))
        for row in rows:
            writer.writerow(result_line(row, topk))
    return name


def write_evaluation(path: str | Path, result: Mapping[str, Any]) -> Path:
    """Write an evaluation: the whole result as JSON, or the per-class table followed by the matrix as CSV."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        target.write_text(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=2, default=str),
                          encoding="utf-8")
        return target
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "model_label", "precision", "recall", "f1", "support"])
        for row in result.get("per_class") or []:
            writer.writerow([row.get("class"), row.get("model_label"), row.get("precision"), row.get("recall"),
                             row.get("f1"), row.get("support")])
        confusion = result.get("confusion") or {}
        writer.writerow([])
        writer.writerow(["true \\ predicted", *confusion.get("columns", [])])
        for label, counts in zip(confusion.get("labels", []), confusion.get("matrix", []), strict=False):
            writer.writerow([label, *counts])
    return target
