"""Sweep results as Markdown, CSV (one row per point) and JSON (vLLM's result files, one per line)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from app.loadgen.result import BenchResult


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(results: Sequence[BenchResult]) -> str:
    """One row per point: throughput, goodput, median/pNN latencies (ms), peak tok/s, J/token."""
    if not results:
        return ""
    rows = [r.summary() for r in results]
    pct = next(k for k in rows[0] if k.startswith("p") and k.endswith("_ttft_ms")).split("_")[0]
    head = ["point", "ok/failed", "req/s", "out tok/s", "total tok/s", "goodput req/s",
            "TTFT med", f"TTFT {pct}", "TPOT med", f"TPOT {pct}", "ITL med", f"ITL {pct}", "E2EL med",
            f"E2EL {pct}", "peak tok/s", "J/token"]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for row in rows:
        cells = [row["point"] + ("" if row["status"] == "ok" else f" ({row['status']})"),
                 f"{row['completed']}/{row['failed']}", _fmt(row["request_throughput"]),
                 _fmt(row["output_throughput"], 1), _fmt(row["total_token_throughput"], 1),
                 _fmt(row["request_goodput"]), _fmt(row["median_ttft_ms"], 1), _fmt(row[f"{pct}_ttft_ms"], 1),
                 _fmt(row["median_tpot_ms"], 1), _fmt(row[f"{pct}_tpot_ms"], 1), _fmt(row["median_itl_ms"], 1),
                 _fmt(row[f"{pct}_itl_ms"], 1), _fmt(row["median_e2el_ms"], 1), _fmt(row[f"{pct}_e2el_ms"], 1),
                 _fmt(row["max_output_tokens_per_s"], 0), _fmt(row["j_per_output_token"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    config = results[0].config
    lines.append("")
    lines.append(f"{config.backend} {config.api_url}, model {config.model}, dataset {config.dataset}, "
                 f"{config.num_prompts} prompts; times in ms; TTFT = first chunk with choices, ITL = gap between "
                 f"chunks, TPOT = (E2EL - TTFT)/(tokens - 1), as vllm bench serve; tokens counted by "
                 f"{results[0].token_source}")
    energy = results[0].energy
    if energy is None:
        lines.append("energy: not measured (turned off, or the endpoint is not on this machine)")
    elif energy.total_j is None:
        lines.append("energy: " + "; ".join(f"{device}: {why}" for device, why in energy.unavailable.items()))
    for result in results:
        for warning in result.warnings:
            lines.append(f"warning ({result.summary()['point']}): {warning}")
    return "\n".join(lines) + "\n"


def to_csv(results: Sequence[BenchResult]) -> str:
    """The summary rows with a header."""
    if not results:
        return ""
    rows = [r.summary() for r in results]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(results: Sequence[BenchResult], detailed: bool = False) -> str:
    """vLLM's result JSON per point, one per line (``--append-result``'s format; one point = one document)."""
    return "".join(json.dumps(r.to_vllm_json(detailed)) + "\n" for r in results)
