"""Classify results and evaluations written as CSV or JSON (plain functions, run off the UI thread)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ui.classify.results import ClassifiedImage

TOP = 5


def result_records(rows: Sequence[ClassifiedImage]) -> list[dict[str, Any]]:
    """One flat record per image: path, status, top-5 labels and probabilities, latency and stage times."""
    records = []
    for row in rows:
        record: dict[str, Any] = {"path": row.path, "ok": row.ok, "error": row.error or None,
                                  "latency_ms": row.latency_ms}
        for rank in range(TOP):
            label, prob = row.top[rank] if rank < len(row.top) else (None, None)
            record[f"label_{rank + 1}"] = label
            record[f"prob_{rank + 1}"] = prob
        for stage, ms in row.times_ms.items():
            record[f"{stage}_ms"] = ms
        records.append(record)
    return records


def write_results(path: str | Path, rows: Sequence[ClassifiedImage], run: Mapping[str, Any] | None = None) -> Path:
    """Write per-image results; ``.json`` also carries the run summary (model, backend, metrics)."""
    target = Path(path)
    records = result_records(rows)
    if target.suffix.lower() == ".json":
        payload = {"run": dict(run or {}), "images": records}
        target.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        return target
    columns = _columns(records)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return target


def write_evaluation(path: str | Path, result: Mapping[str, Any]) -> Path:
    """Write an evaluation: the whole result as JSON, or the per-class table followed by the matrix as CSV."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        target.write_text(json.dumps(dict(result), indent=2, default=str), encoding="utf-8")
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


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    for record in records:
        for key in record:
            if key not in columns:
                columns.append(key)
    return columns or ["path"]
