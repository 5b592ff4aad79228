"""Write comparisons as Markdown (to read), CSV (spreadsheets), JSON and SQLite (both complete, re-importable).

* JSON: ``{"format": "workbench-compare", "version": 1, "sessions": [session with machine, settings, rows]}``;
* CSV: one line per row; metrics as ``metric:<name>`` columns; machine, settings, flags and samples as JSON
  cells so the file can be imported again;
* SQLite: a workbench history database holding just these sessions, with the recorded runs and every
  sample of them (when exported from the history that recorded them);
* Markdown: the comparison tables with the machine and settings above them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.compare.results import CompareSession
from app.compare.table import build_tables
from app.history import History

FORMAT = "workbench-compare"
VERSION = 1
CSV_FIXED = ("session_id", "machine_id", "machine_label", "created_at", "source", "workload", "device", "backend",
             "precision", "variant", "status", "run_id")
CSV_JSON = ("flags", "samples", "machine", "settings", "session_meta")
METRIC_PREFIX = "metric:"
EXPORT_SUFFIXES = {".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json", ".db": "sqlite",
                   ".sqlite": "sqlite", ".sqlite3": "sqlite"}


def to_json(sessions: Sequence[CompareSession]) -> str:
    """Every session, row and sample as JSON."""
    return json.dumps({"format": FORMAT, "version": VERSION, "sessions": [s.to_dict() for s in sessions]},
                      indent=1, default=str)


def to_csv(sessions: Sequence[CompareSession]) -> str:
    """One line per row, every metric in its own column."""
    names = sorted({name for s in sessions for r in s.results for name in r.metrics})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_FIXED, *(METRIC_PREFIX + n for n in names), *CSV_JSON])
    for session in sessions:
        for row in session.results:
            fixed = [session.id, session.machine.get("id", ""), session.machine_label, repr(session.created_at),
                     session.source, row.workload, row.device, row.backend, row.precision, row.variant,
                     row.status, row.run_id or ""]
            metrics = [repr(row.metrics[n]) if n in row.metrics else "" for n in names]
            blobs = [json.dumps([f.to_dict() for f in row.flags]), json.dumps(row.samples),
                     json.dumps(session.machine, default=str), json.dumps(session.settings, default=str),
                     json.dumps(session.meta, default=str)]
            writer.writerow(fixed + metrics + blobs)
    return out.getvalue()


def _when(timestamp: float | None) -> str:
    return "" if not timestamp else dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(sessions: Sequence[CompareSession]) -> str:
    """The comparison tables, with the machines and settings they came from, and the speed x quality fronts."""
    from app.compare.pareto_chart import pareto_markdown, speed_quality

    lines = ["# Hardware comparison", ""]
    for session in sessions:
        machine = session.machine
        cpu = machine.get("cpu") or {}
        versions = ", ".join(f"{k} {v}" for k, v in sorted((machine.get("versions") or {}).items()))
        settings = session.settings
        lines += [
            f"## {session.machine_label}" + (f" — {session.source}" if session.imported else ""),
            "",
            f"- session `{session.id[:12]}`, {_when(session.created_at)}, status **{session.status}**",
            f"- machine `{machine.get('id', '?')}`: {cpu.get('model', '?')} ({cpu.get('physical_cores', '?')} "
            f"physical / {cpu.get('logical_cores', '?')} logical cores, ISA {' '.join(cpu.get('isa') or [])}), "
            f"{(machine.get('ram_bytes') or 0) / 2**30:.1f} GiB RAM, {machine.get('os', '?')}",
            f"- GPUs: {', '.join(str(g.get('name')) for g in machine.get('gpus') or []) or 'none'}",
            f"- libraries: {versions}",
            f"- threads: default {(machine.get('threads') or {}).get('default_threads', '?')}, worker env "
            f"{json.dumps((machine.get('threads') or {}).get('worker_env', {}))}",
            f"- settings: repeat {settings.get('repeat') or 'default'}, duration "
            f"{settings.get('duration_s') or '-'} s, warm-up {settings.get('warmup')}, models "
            f"{settings.get('llm_model')} / {settings.get('vision_model')} / {settings.get('bayes_network')}",
            "",
        ]
    for table in build_tables(sessions):
        lines += [f"### {table.title}", ""]
        lines.append("| " + " | ".join(table.headers) + " |")
        lines.append("| " + " | ".join("---:" if i in table.numeric else "---" for i in range(len(table.headers)))
                     + " |")
        for cells in table.rows:
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
        lines += [f"- {note}" for note in table.notes]
        if table.notes:
            lines.append("")
        chart = speed_quality(sessions, table.workload)
        if chart is not None:
            lines += [f"#### Speed x quality: {chart.axes.quality_label}", "", pareto_markdown(chart), ""]
    return "\n".join(lines).rstrip() + "\n"


def to_sqlite(sessions: Sequence[CompareSession], path: Path, source: History | None = None) -> Path:
    """A workbench database with these sessions; with ``source``, also their runs and samples."""
    if path.exists():
        path.unlink()
    from app.compare.store import CompareStore

    target = History(path)
    try:
        store = CompareStore(target)
        for session in sessions:
            store.create_session(session.workload, session.settings, session.machine, source=session.source,
                                 meta=session.meta, status=session.status, created_at=session.created_at,
                                 session_id=session.id)
            store.finish_session(session.id, session.status, ended_at=session.ended_at or session.created_at)
            for row in session.results:
                store.add_result(session.id, row)
            if source is not None:
                _copy_runs(source, target, session.id)
    finally:
        target.close()
    return path


def _copy_runs(source: History, target: History, session_id: str) -> None:
    with source.lock:
        runs = list(source.db.query("SELECT * FROM runs WHERE compare_id = ?", [session_id]))
        samples = list(source.db.query(
            "SELECT samples.* FROM samples JOIN runs ON runs.id = samples.run_id WHERE runs.compare_id = ?",
            [session_id]))
    with target.lock, target.db.conn:
        if runs:
            target.db.table("runs").insert_all(runs, batch_size=500)
        if samples:
            target.db.table("samples").insert_all(samples, batch_size=2000)


def export_format(path: Path, explicit: str | None = None) -> str:
    """md, csv, json or sqlite: the explicit choice or the file's suffix."""
    if explicit:
        return explicit
    found = EXPORT_SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ValueError(f"cannot tell the export format from {path.name!r}: use .md, .csv, .json or .db")
    return found


def write_export(sessions: Sequence[CompareSession], path: Path, fmt: str | None = None,
                 source: History | None = None) -> Path:
    """Write ``sessions`` to ``path`` in ``fmt`` (from the suffix when None)."""
    kind = export_format(path, fmt)
    writers: dict[str, Any] = {"md": to_markdown, "csv": to_csv, "json": to_json}
    if kind == "sqlite":
        return to_sqlite(sessions, path, source)
    if kind not in writers:
        raise ValueError(f"unknown export format {kind!r} (md, csv, json, sqlite)")
    partial = path.with_name(path.name + ".part")
    partial.write_text(writers[kind](sessions), encoding="utf-8")
    partial.replace(path)
    return path
