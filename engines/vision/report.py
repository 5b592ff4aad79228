"""Write an evaluation result as JSON, Markdown and HTML reports."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engines.base import EngineError, ErrorKind

FORMATS = ("json", "md", "html")


def write_reports(result: Mapping[str, Any], target: Path, formats: Iterable[str]) -> list[Path]:
    """Write ``target.<format>`` for each format; ``target`` may carry one of the suffixes."""
    stem = target.with_suffix("") if target.suffix.lower() in (".json", ".md", ".html") else target
    wanted = [f.lower().lstrip(".") for f in formats]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise EngineError(ErrorKind.BAD_INPUT, f"unknown report format {unknown[0]!r} (choose {', '.join(FORMATS)})")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in wanted:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "json":
            text = json.dumps({k: v for k, v in result.items() if k != "series"}, indent=2, default=str)
        elif fmt == "md":
            text = markdown(result)
        else:
            text = html_report(result)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _sections(result: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by the Markdown and HTML renderings."""
    metrics = result.get("metrics", {})
    summary = [
        ["model", str(result.get("model"))],
        ["backend", f"{result.get('backend')} {result.get('precision')} on {result.get('device')}"],
        ["folder", str(result.get("folder"))],
        ["images evaluated", str(result.get("evaluated"))],
        ["unreadable images", str(result.get("failed", 0))],
        ["top-1 accuracy", _pct(result["top1"])],
        ["top-5 accuracy", _pct(result["top5"])],
        ["macro F1", f"{result['macro']['f1']:.4f}"],
        ["images/s", f"{metrics.get('images_per_s', 0):.1f}"],
        ["latency median / p90 (ms)", f"{metrics.get('latency_median_ms', 0):.1f} / "
                                      f"{metrics.get('latency_p90_ms', 0):.1f}"],
        ["class mapping", str(result.get("mapping"))],
        ["preprocessing", str(result.get("preprocess"))],
    ]
    per_class = [[row["class"], row["model_label"], f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                  f"{row['f1']:.3f}", str(int(row["support"]))] for row in result["per_class"]]
    confusion = result["confusion"]
    matrix_rows = [[name, *[str(v) for v in counts]]
                   for name, counts in zip(confusion["labels"], confusion["matrix"], strict=True)]
    sections = [
        ("Summary", ["", ""], summary),
        ("Per class", ["class", "model label", "precision", "recall", "F1", "support"], per_class),
        ("Confusion matrix (rows: true class, columns: predicted)", ["true \\ predicted", *confusion["columns"]],
         matrix_rows),
    ]
    agreement = result.get("agreement")
    if agreement:
        rows = []
        for row in agreement["rows"]:
            if "error" in row:
                rows.append([row["backend"], row["precision"], row["device"], "-", "-", "-", row["error"]])
            else:
                rows.append([row["backend"], row["precision"], row["device"], _pct(row["top1_agreement"]),
                             _pct(row["top5_equal"]), f"{row['max_prob_diff']:.2e}", row.get("note", "")])
        sections.append((f"Agreement with the {agreement['reference']} reference ({agreement['images']} images)",
                         ["backend", "precision", "device", "top-1 agreement", "top-5 equal", "max prob diff",
                          "note"], rows))
    return sections


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    parts = [f"# Evaluation of {result.get('model')}"]
    for title, header, rows in _sections(result):
        parts += [f"## {title}", _md_table(header, rows)]
    return "\n\n".join(parts) + "\n"


def html_report(result: Mapping[str, Any]) -> str:
    """The report as a standalone HTML page."""
    esc = html.escape
    body = [f"<h1>Evaluation of {esc(str(result.get('model')))}</h1>"]
    for title, header, rows in _sections(result):
        head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
        cells = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        body.append(f"<h2>{esc(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}td:first-child{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
