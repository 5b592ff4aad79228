"""The model card and preprocessing of the loaded classifier, as HTML for a text browser."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def _fmt_count(value: Any) -> str:
    if not isinstance(value, int | float):
        return "?"
    if value >= 1e9:
        return f"{value / 1e9:.2f} G"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.0f}"


def _row(name: str, value: Any) -> str:
    return f"<tr><td style='padding-right:8px'><b>{escape(name)}</b></td><td>{escape(str(value))}</td></tr>"


def card_html(info: Mapping[str, Any], card: Mapping[str, Any] | None = None) -> str:
    """The loaded model: identity, size, cost, accuracy claim, backend and the exact preprocessing."""
    card = card or {}
    rows = [_row("model", info.get("name") or card.get("name") or "?")]
    if info.get("architecture"):
        rows.append(_row("architecture", f"{info['architecture']} ({info.get('format', '?')})"))
    if card.get("parameters"):
        rows.append(_row("parameters", _fmt_count(card["parameters"])))
    if card.get("macs"):
        rows.append(_row("MACs / image", _fmt_count(card["macs"])))
    size = info.get("input_size") or card.get("input_size")
    if size:
        rows.append(_row("input", "x".join(str(v) for v in size)))
    if info.get("num_classes"):
        rows.append(_row("classes", info["num_classes"]))
    reference = info.get("reference_top1") or card.get("reference_top1")
    if isinstance(reference, Mapping):
        rows.append(_row("reference top-1", f"{reference.get('value')}% ({reference.get('source', '')})"))
    rows.append(_row("running on", f"{info.get('backend', '?')} {info.get('precision', '')} · "
                                   f"{info.get('device', '?')} · {info.get('threads', '?')} threads"))
    if isinstance(info.get("load_s"), int | float):
        cold = info.get("cold_first_run_ms")
        rows.append(_row("load", f"{info['load_s']:.2f} s" + (f", first run {cold:.0f} ms"
                                                               if isinstance(cold, int | float) else "")))
    auto = info.get("auto")
    if isinstance(auto, Mapping) and auto.get("timings_ms"):
        timings = ", ".join(f"{name} {ms:.0f} ms" for name, ms in auto["timings_ms"].items())
        how = "remembered" if auto.get("remembered") else "measured"
        rows.append(_row("auto backend", f"{auto.get('chosen')} ({how}: {timings} per batch of {auto.get('batch')})"))
    html = ["<table cellspacing='0'>", *rows, "</table>"]
    pre = info.get("preprocess") or card.get("preprocess")
    if isinstance(pre, Mapping):
        html.append("<p><b>Preprocessing</b></p><table cellspacing='0'>")
        resize = pre.get("resize_size")
        html.append(_row("resize", f"shortest edge to {resize}" if pre.get("crop_mode") == "center"
                         else f"squash to {resize}x{resize}"))
        html.append(_row("interpolation", pre.get("interpolation", "?")))
        crop = pre.get("input_size") or []
        html.append(_row("centre crop", "x".join(str(v) for v in crop) + f" (crop_pct {pre.get('crop_pct', '?')})"))
        html.append(_row("mean", ", ".join(f"{v:.3f}" for v in pre.get("mean") or [])))
        html.append(_row("std", ", ".join(f"{v:.3f}" for v in pre.get("std") or [])))
        html.append(_row("from", pre.get("source", "?")))
        html.append("</table>")
    notes = list(info.get("notes") or []) + [n for n in card.get("notes") or [] if n not in (info.get("notes") or [])]
    if notes:
        html.append("<p><b>Notes</b></p><ul>" + "".join(f"<li>{escape(str(n))}</li>" for n in notes) + "</ul>")
    return "".join(html)
