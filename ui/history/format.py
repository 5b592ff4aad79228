"""How the History page words runs: key metrics per engine, values with units, export rows (no Qt)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The metrics that say most about a run, best first; the table shows the first few a run has.
KEY_METRICS = (
    "gen_tokens_per_s", "ttft_ms", "tg_tokens_per_s", "pp_tokens_per_s", "images_per_s", "latency_median_ms",
    "inference_images_per_s", "latency_p50_ms", "top1_accuracy", "top1_agreement", "query_s", "rows_per_s",
    "e2e_ms", "compile_s",
)
LABELS = {
    "gen_tokens_per_s": "tok/s", "ttft_ms": "TTFT", "tg_tokens_per_s": "tg tok/s", "pp_tokens_per_s": "pp tok/s",
    "images_per_s": "img/s", "inference_images_per_s": "img/s (model only)", "latency_median_ms": "p50",
    "latency_p50_ms": "p50", "top1_accuracy": "top-1", "top1_agreement": "agree", "query_s": "query",
    "rows_per_s": "rows/s", "e2e_ms": "total", "compile_s": "compile",
}
COLUMNS = ("Started", "Engine", "Op", "Model", "Device", "Status", "Key metrics", "Duration")

# Words for the parts of metric names (the rest are kept as they are); units come from the suffix.
WORDS = {
    "ttft": "time to first token", "tpot": "time per output token", "itl": "inter-token latency",
    "e2el": "end-to-end latency", "e2e": "end-to-end", "gen": "generated", "tg": "text generation",
    "pp": "prompt processing", "rss": "memory RSS", "cpu": "CPU", "gpu": "GPU", "top1": "top-1",
    "p50": "p50", "p90": "p90", "p99": "p99", "b1": "batch 1", "ram": "RAM", "kv": "KV cache",
}
UNITS = (("_per_s", "/s"), ("_percent", "%"), ("_ms", "ms"), ("_mb", "MB"), ("_bytes", "bytes"), ("_s", "s"))


def metric_label(name: str) -> str:
    """``ttft_ms`` -> ``Time to first token (ms)``, ``gen_tokens_per_s`` -> ``Generated tokens/s``."""
    stem, unit = name, ""
    for suffix, words in UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem, unit = name[: -len(suffix)], words
            break
    text = " ".join(WORDS.get(part, part) for part in stem.split("_") if part)
    text = text[:1].upper() + text[1:]
    if unit == "/s":
        return f"{text}/s"
    return f"{text} ({unit})" if unit else text


def display_status(run: Mapping[str, Any]) -> str:
    """The status a person reads: an answer cut short by Stop is "stopped", a crashed run "interrupted"."""
    status = str(run.get("status") or "")
    result = run.get("result") if isinstance(run.get("result"), Mapping) else {}
    if status == "crashed":
        return "interrupted (worker crashed)"
    if status == "cancelled":
        return "cancelled" if result.get("stop_reason") != "cancelled" else "stopped"
    if status == "ok" and result.get("stop_reason") == "cancelled":
        return "stopped"
    if status == "ok" and result.get("stop_reason") in ("length", "context_full"):
        return "ok (token limit)" if result.get("stop_reason") == "length" else "ok (context full)"
    return status


def format_value(name: str, value: Any) -> str:
    """A metric value with its unit, from the naming convention (``*_ms``, ``*_s``, ``*_per_s``)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if name.endswith("_per_s"):
        return f"{value:,.1f}/s"
    if name.endswith("_ms"):
        return f"{value:,.1f} ms"
    if name.endswith("_s"):
        return f"{value * 1000:,.1f} ms" if abs(value) < 1 else f"{value:,.2f} s"
    if "accuracy" in name or "agreement" in name or name.endswith("_fraction"):
        return f"{100 * value:.1f} %" if value <= 1 else f"{value:.1f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}"


def key_metrics(metrics: Mapping[str, Any] | None, count: int = 2) -> str:
    """``35.1/s tok/s · TTFT 212.0 ms`` for the table."""
    if not metrics:
        return ""
    chosen = [name for name in KEY_METRICS if isinstance(metrics.get(name), int | float)][:count]
    if not chosen:
        chosen = [name for name, value in metrics.items() if isinstance(value, int | float)][:count]
    parts = []
    for name in chosen:
        label = LABELS.get(name, name)
        text = format_value(name, metrics[name])
        parts.append(f"{text.removesuffix('/s')} {label}" if name.endswith("_per_s") else f"{label} {text}")
    return " · ".join(parts)


def started_text(timestamp: float | None) -> str:
    """Local time of a run's start."""
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def duration_s(run: Mapping[str, Any]) -> float | None:
    """Seconds from start to end (None while running)."""
    start, end = run.get("started_at"), run.get("ended_at")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return max(end - start, 0.0)
    return None


def duration_text(run: Mapping[str, Any]) -> str:
    """``1.23 s`` / ``850 ms``."""
    seconds = duration_s(run)
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table_row(run: Mapping[str, Any]) -> list[str]:
    """The cells of one run in the History table."""
    return [started_text(run.get("started_at")), str(run.get("engine") or ""), str(run.get("op") or ""),
            str(run.get("model_id") or ""), str(run.get("device") or ""), display_status(run),
            key_metrics(run.get("metrics")), duration_text(run)]


def compare_rows(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Side by side: headers (one column per run) and one row per fact or metric any of them has."""
    headers = ["", *[f"{r.get('engine')}/{r.get('op')} {started_text(r.get('started_at'))[11:]}" for r in runs]]
    facts = (("Model", "model_id"), ("Device", "device"))
    rows = [[label, *[str(r.get(key) or "") for r in runs]] for label, key in facts]
    rows.append(["Status", *[display_status(r) for r in runs]])
    rows.append(["Duration", *[duration_text(r) for r in runs]])
    names: list[str] = []
    for run in runs:
        for name in (run.get("metrics") or {}):
            if name not in names:
                names.append(name)
    ordered = [n for n in KEY_METRICS if n in names] + sorted(n for n in names if n not in KEY_METRICS)
    for name in ordered:
        rows.append([metric_label(name), *[format_value(name, (r.get("metrics") or {}).get(name, ""))
                             if name in (r.get("metrics") or {}) else "–" for r in runs]])
    return headers, rows


def export_json(runs: Iterable[Mapping[str, Any]], samples: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Runs (with their samples when given) as JSON."""
    out = []
    for run in runs:
        item = dict(run)
        if samples is not None and run.get("id") in samples:
            item["samples"] = {k: [list(p) for p in v] for k, v in samples[str(run["id"])].items()}
        out.append(item)
    return json.dumps({"format": "local-ai-workbench.runs/1", "runs": out}, indent=2, default=str)


def export_csv(runs: Sequence[Mapping[str, Any]]) -> str:
    """Runs as CSV: the fixed columns, then one column per metric any run has."""
    fixed = ["id", "started_at", "ended_at", "engine", "op", "model_id", "device", "status", "error"]
    metric_names = sorted({name for run in runs for name in (run.get("metrics") or {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fixed + [f"metric.{name}" for name in metric_names] + ["params"])
    for run in runs:
        metrics = run.get("metrics") or {}
        writer.writerow([run.get(key, "") for key in fixed] + [metrics.get(name, "") for name in metric_names]
                        + [json.dumps(run.get("params") or {}, default=str)])
    return buffer.getvalue()
