"""The comparison table: one table per workload, rows from one or more sessions (machines) side by side.

Cells are text, formatted once here for the CLI, the Markdown export and the GUI. A number that could not
be measured on this machine (energy without RAPL/NVML, MBU without a bandwidth figure) reads ``n/a`` with a
note saying why, never ``0``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.compare.flags import HEADLINES
from app.compare.results import WARNING, CompareSession, ResultRow

Cell = Callable[[ResultRow, CompareSession], str]


@dataclass
class Column:
    """One column: its title, how to format a cell, and whether it is numeric (right-aligned)."""

    title: str
    cell: Cell
    numeric: bool = True


@dataclass
class Table:
    """One workload's table."""

    workload: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[int]
    results: list[tuple[ResultRow, CompareSession]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}g}"


def metric(name: str, digits: int = 3, scale: float = 1.0) -> Cell:
    """A cell showing one metric (``-`` when the row has none)."""
    def cell(row: ResultRow, _session: CompareSession) -> str:
        value = row.metrics.get(name)
        return _num(None if value is None else value * scale, digits)
    return cell


def mean_std_cell(name: str) -> Cell:
    """``mean ± std`` of a rate, as llama-bench prints it."""
    def cell(row: ResultRow, _session: CompareSession) -> str:
        mean, std = row.metrics.get(name), row.metrics.get(f"{name}_std")
        if mean is None:
            return "-"
        return f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f}"
    return cell


def energy_cell(name: str, unit_scale: float = 1.0) -> Cell:
    """An energy figure, or ``n/a`` where the machine's power cannot be read."""
    def cell(row: ResultRow, session: CompareSession) -> str:
        value = row.metrics.get(name)
        if value is not None:
            return _num(value * unit_scale)
        if not row.ok:
            return "-"
        power = (session.meta.get("power") or {}).get(row.device) or {}
        return "-" if power.get("available") else "n/a"
    return cell


def mbu_cell(row: ResultRow, session: CompareSession) -> str:
    """Model-bandwidth utilisation in percent, or ``n/a`` without a bandwidth figure."""
    value = row.metrics.get("mbu")
    if value is not None:
        return f"{value * 100:.0f}%"
    return "n/a" if row.ok and "tg_tokens_per_s" in row.metrics else "-"


def cold_cell(row: ResultRow, _session: CompareSession) -> str:
    """``start s / first ms``: worker start + load, then the first request."""
    start, first = row.metrics.get("cold_start_s"), row.metrics.get("cold_first_ms")
    if start is None:
        return "-"
    return f"{start:.2f} s / {_num(first)} ms"


def flags_cell(row: ResultRow, _session: CompareSession) -> str:
    """The row's warnings (and facts), shortest form."""
    if not row.flags:
        return ""
    marks = [("⚠ " if f.level == WARNING else "") + f.message for f in row.flags]
    return "; ".join(marks)


def ratio_cell(workload: str, reference: ResultRow) -> Cell:
    """How many times faster than the reference row the row is, on the workload's headline number."""
    headline = HEADLINES[workload]
    base = reference.metrics[headline.metric]

    def cell(row: ResultRow, _session: CompareSession) -> str:
        value = row.metrics.get(headline.metric)
        if value is None or not value or not base:
            return "-"
        return f"{(value / base) if headline.higher_is_better else (base / value):.3g}"
    return cell


def _text(attribute: str) -> Cell:
    return lambda row, _session: str(getattr(row, attribute) or "")


def _machine(_row: ResultRow, session: CompareSession) -> str:
    tag = f"{session.machine.get('id', '')[:6]}"
    return f"{session.machine_label} [{tag}]" + (" (imported)" if session.imported else "")


def vision_batch_cell(row: ResultRow, _session: CompareSession) -> str:
    """images/s at each batch size, ``b1 12.3 · b8 40.1``."""
    sizes = sorted(int(k[1:].split("_")[0]) for k in row.metrics if k.startswith("b") and
                   k.endswith("_images_per_s"))
    return " · ".join(f"b{b} {_num(row.metrics[f'b{b}_images_per_s'])}" for b in sizes)


def agreement_cell(row: ResultRow, _session: CompareSession) -> str:
    """Top-1 agreement with the fp32 CPU reference, as a percentage of the sample images."""
    value = row.metrics.get("top1_agreement")
    if value is None:
        return "-"
    images = row.metrics.get("agreement_images")
    return f"{value * 100:.0f}%" + (f" of {images:.0f}" if images else "")


def kl_cell(row: ResultRow, _session: CompareSession) -> str:
    """Mean and 99th-percentile KL divergence from the reference quantization (``-`` when not measured)."""
    mean, p99 = row.metrics.get("kld_mean"), row.metrics.get("kld_p99")
    if mean is None:
        return "-"
    return f"{mean:.4f} / {p99:.3f}" if p99 is not None else f"{mean:.4f}"


def delta_ppl_cell(row: ResultRow, _session: CompareSession) -> str:
    """PPL minus the reference's PPL, with llama-perplexity's uncertainty."""
    delta, unc = row.metrics.get("delta_ppl"), row.metrics.get("delta_ppl_uncertainty")
    if delta is None:
        return "-"
    return f"{delta:+.3f} ± {unc:.3f}" if unc is not None else f"{delta:+.3f}"


COLUMNS: dict[str, list[Column]] = {
    "llm": [
        Column("device", _text("device"), False), Column("quant", _text("precision"), False),
        Column("threads / offload", _text("variant"), False),
        Column("pp t/s", mean_std_cell("pp_tokens_per_s")), Column("tg t/s", mean_std_cell("tg_tokens_per_s")),
        Column("TTFT ms (median)", metric("ttft_median_ms")), Column("TTFT p90 ms", metric("ttft_p90_ms")),
        Column("cold: start / first", cold_cell), Column("J/token (tg)", energy_cell("tg_joules_per_token")),
        Column("MBU", mbu_cell), Column("KL mean / p99", kl_cell), Column("Δ-PPL", delta_ppl_cell),
        Column("same top %", metric("same_top_pct", 4)), Column("flags", flags_cell, False),
    ],
    "vision": [
        Column("device", _text("device"), False), Column("backend", _text("backend"), False),
        Column("precision", _text("precision"), False),
        Column("mean ms", metric("latency_mean_ms")), Column("median ms", metric("latency_median_ms")),
        Column("p90 ms", metric("latency_p90_ms")), Column("p99 ms", metric("latency_p99_ms")),
        Column("images/s by batch", vision_batch_cell, False),
        Column("cold: start / first", cold_cell), Column("top-1 agreement", agreement_cell),
        Column("J/image", energy_cell("joules_per_image")), Column("flags", flags_cell, False),
    ],
    "bayes": [
        Column("device", _text("device"), False), Column("backend", _text("backend"), False),
        Column("method", _text("variant"), False), Column("compile ms", metric("compile_ms")),
        Column("query ms (median)", metric("query_median_ms")), Column("p90 ms", metric("query_p90_ms")),
        Column("max error", metric("max_error", 2)), Column("cold: start / first", cold_cell),
        Column("J/query", energy_cell("joules_per_query")), Column("flags", flags_cell, False),
    ],
    "endpoint": [
        Column("endpoint", _text("device"), False), Column("model", _text("backend"), False),
        Column("load", _text("variant"), False), Column("output t/s", metric("output_tokens_per_s")),
        Column("t/s per user", metric("user_tokens_per_s")), Column("req/s", metric("requests_per_s")),
        Column("TTFT p50 ms", metric("ttft_p50_ms")), Column("TTFT p99 ms", metric("ttft_p99_ms")),
        Column("TPOT p50 ms", metric("tpot_p50_ms")), Column("TPOT p99 ms", metric("tpot_p99_ms")),
        Column("E2EL p50 ms", metric("e2el_p50_ms")), Column("goodput req/s", metric("request_goodput")),
        Column("flags", flags_cell, False),
    ],
}
TITLES = {"llm": "LLM (llama-bench pp/tg, TTFT)", "vision": "Vision (latency at the smallest batch, "
          "throughput by batch size)", "bayes": "Bayesian network (all posterior marginals)",
          "endpoint": "Endpoints under load (OpenAI-compatible servers, as vllm bench serve)"}


def build_tables(sessions: Sequence[CompareSession], workloads: Sequence[str] | None = None) -> list[Table]:
    """One table per workload present, with a machine column when the sessions come from several machines."""
    machines = {s.machine.get("id") for s in sessions}
    several = len(sessions) > 1 and (len(machines) > 1 or any(s.imported for s in sessions))
    tables = []
    for workload in workloads or ("llm", "vision", "bayes", "endpoint"):
        results = [(row, s) for s in sessions for row in s.results if row.workload == workload]
        if not results:
            continue
        columns = ([Column("machine", _machine, False)] if several else []) + COLUMNS[workload]
        reference = next((row for row, _s in results if row.ok and HEADLINES[workload].metric in row.metrics), None)
        if reference is not None:
            columns.insert(len(columns) - 1, Column("× ref", ratio_cell(workload, reference)))
        table = Table(workload, TITLES[workload], [c.title for c in columns],
                      [[c.cell(row, s) for c in columns] for row, s in results],
                      [i for i, c in enumerate(columns) if c.numeric], results)
        table.notes = _notes(workload, [s for s in sessions if any(r.workload == workload for r in s.results)])
        if reference is not None:
            headline = HEADLINES[workload]
            table.notes.insert(0, f"× ref: times faster than {reference.label} by {headline.words}, "
                                  "measured in the same run")
        tables.append(table)
    return tables


def _notes(workload: str, sessions: Sequence[CompareSession]) -> list[str]:
    notes = []
    if workload == "endpoint":
        notes.append("output t/s: the system's output tokens per second; t/s per user: 1000 / mean TPOT; "
                     "TPOT = (E2EL - TTFT) / (tokens - 1); each point's requests are a history run "
                     "(engine serve-bench)")
    for session in sessions:
        where = f" ({session.machine_label})" if len(sessions) > 1 else ""
        devices = {r.device for r in session.results if r.workload == workload}
        for device, power in sorted((session.meta.get("power") or {}).items()):
            if device in devices and not power.get("available"):
                notes.append(f"energy n/a on {device}{where}: {power.get('detail')}")
        if workload == "llm":
            bandwidth = (session.meta.get("bandwidth") or {}).get("cpu")
            if bandwidth:
                notes.append(f"MBU = model bytes x tg t/s / {bandwidth['gb_per_s']:.1f} GB/s{where} "
                             f"({bandwidth['method']})")
            if any("kld_mean" in r.metrics for r in session.results):
                notes.append("KL / Δ-PPL / same top: llama-perplexity's measures against the most precise "
                             "quantization of the session, on the shipped text (app/compare/llm_quality.py)")
    return notes
