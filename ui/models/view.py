"""Formatting for the Models page: rows of the installed, search and file tables (no Qt, no network)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from app.text_table import human_bytes

INSTALLED_COLUMNS = ("Model", "Kind", "Format", "Quant", "Size", "Source", "File")
SEARCH_COLUMNS = ("Repository", "Downloads", "Likes", "Updated")
FILE_COLUMNS = ("File", "Size", "Quant", "Needs", "Fit")
VERDICT_COLOURS = {"fits in VRAM": "#16a34a", "fits in RAM": "#16a34a", "partial offload": "#d97706",
                   "will not fit": "#dc2626"}


def installed_row(record: Any, health: Any = None) -> list[str]:
    """One registered model as table cells (``health``: an app.models.integrity.Health, when checked)."""
    state = record.path or "(assembled on first use)"
    if not record.exists:
        state = f"missing: {record.path}"
    elif health is not None and health.status == "damaged":
        state = f"DAMAGED: {health.problem} — {record.path}"
    return [record.id, record.kind, record.format, record.quant or "", human_bytes(record.size_bytes)
            if record.size_bytes else "", record.source, state]


def disk_summary(records: Sequence[Any]) -> str:
    """``7 models · 1.2 GB on disk (0.9 GB downloaded here)``: each file counted once."""
    seen: set[str] = set()
    total = downloaded = 0
    for record in records:
        if not record.size_bytes or not record.exists or (record.path and record.path in seen):
            continue
        seen.add(record.path)
        total += record.size_bytes
        if record.source == "hub":
            downloaded += record.size_bytes
    return (f"{len(records)} models · {human_bytes(total)} on disk "
            f"({human_bytes(downloaded)} downloaded by the workbench)")


def search_row(repo: Any) -> list[str]:
    """One Hub search hit as table cells."""
    updated = repo.updated.strftime("%Y-%m-%d") if isinstance(repo.updated, dt.datetime) else ""
    return [repo.id, f"{repo.downloads:,}", f"{repo.likes:,}", updated]


def file_row(row: Any) -> list[str]:
    """One repository file with its fit verdict as table cells."""
    file = row.file
    size = human_bytes(file.size) if file.size is not None else "?"
    if file.shard is not None:
        size += f" (part {file.shard[1]}/{file.shard[2]})"
    needs = human_bytes(row.fit.required_bytes) if row.fit else ""
    verdict = row.fit.verdict.value if row.fit else ""
    return [file.filename, size, file.quant or "", needs, verdict]


def progress_text(progress: Any) -> str:
    """``model.gguf: 12.0 MB / 50.0 MB · 8.1 MB/s · 5 s left`` from a DownloadProgress, or its notice."""
    if progress.message:  # a notice: "connection lost at 40 MiB, resuming (2/5)"
        return f"{progress.filename}: {progress.message}"
    done = human_bytes(progress.done_bytes)
    total = human_bytes(progress.total_bytes) if progress.total_bytes else "?"
    parts = [f"{progress.filename}: {progress.phase} {done} / {total}"]
    if progress.rate_bytes_per_s:
        parts.append(f"{human_bytes(progress.rate_bytes_per_s)}/s")
    if progress.eta_s is not None and progress.phase == "downloading":
        parts.append(f"{progress.eta_s:.0f} s left")
    return " · ".join(parts)


def progress_fraction(progress: Any) -> float:
    """0..1 for a progress bar (0 when the size is unknown)."""
    if not progress.total_bytes:
        return 0.0
    return min(progress.done_bytes / progress.total_bytes, 1.0)
