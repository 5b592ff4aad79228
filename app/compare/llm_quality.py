"""What each quantization of a comparison costs in quality: KL divergence and Δ-PPL against the reference.

When a comparison derives quantizations (``--quantize``), every model file in it is scored by the LLM
engine's ``quality`` op against the most precise file of the session (F16 over Q8_0 over ... over the
source's own quantization): the reference is scored once and its top-k logits cached (app/quality), then
each file once, however many thread counts or devices it is measured on. A short, fixed slice of the shipped
text keeps it to seconds: ``QUALITY_CTX``-token chunks, ``QUALITY_CHUNKS`` of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.compare.measure import MeasureContext
from app.compare.results import INFO, ResultRow

QUALITY_CTX = 128
QUALITY_CHUNKS = 3
QUALITY_METRICS = ("ppl", "ppl_base", "delta_ppl", "delta_ppl_uncertainty", "kld_mean", "kld_p99",
                   "same_top_pct", "tokens_scored")
# Most precise first; a quantization not listed ranks after all of these.
PRECISION_ORDER = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_1",
                   "Q4_K_S", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K")


def precision_rank(quant: str) -> int:
    """0 for the most precise quantization; unknown ones last."""
    name = quant.upper()
    return PRECISION_ORDER.index(name) if name in PRECISION_ORDER else len(PRECISION_ORDER)


def reference_quant(source_quant: str, quants: Sequence[str]) -> str:
    """Which file is the reference: ``""`` for the source itself, else the derived quantization's name."""
    candidates = [("", source_quant), *((q.upper(), q.upper()) for q in quants)]
    return min(candidates, key=lambda c: precision_rank(c[1]))[0]


def _reference(ctx: MeasureContext, source: Path, store: dict[str, Any]) -> tuple[Path, Path]:
    from app.compare.llm_workload import derived_model
    from app.quality.llm_quality import DEFAULT_TEXT, QualityRequest, reference_cache_path
    from core.gguf import read_gguf

    if "reference" not in store:
        quant = reference_quant(read_gguf(source).quantization, ctx.settings.quantize)
        path = derived_model(ctx, source, quant) if quant else source
        request = QualityRequest(str(path), text_path=DEFAULT_TEXT, ctx=QUALITY_CTX, chunks=QUALITY_CHUNKS)
        cache = reference_cache_path(path, request)
        if not cache.is_file():
            ctx.progress(0.9, f"scoring the quality reference {path.name}")
            with ctx.start_worker(threads=ctx.config.threads) as client:
                ctx.load(client, str(path), "cpu", {"n_ctx": QUALITY_CTX, "n_batch": QUALITY_CTX})
                ctx.record(client, "quality", {"text_path": str(DEFAULT_TEXT), "ctx": QUALITY_CTX,
                                               "chunks": QUALITY_CHUNKS, "write_reference": str(cache),
                                               "top_k": request.top_k})
        store["reference"] = (path, cache)
    reference: tuple[Path, Path] = store["reference"]
    return reference


def add_quality(ctx: MeasureContext, client: Any, row: ResultRow, source: Path, path: Path,
                shared: dict[str, Any]) -> None:
    """Put the file's KL divergence / Δ-PPL against the session's reference into ``row`` (measured once)."""
    if not ctx.settings.quantize:
        return
    store: dict[str, Any] = shared.setdefault("llm_quality", {})
    reference, cache = _reference(ctx, source, store)
    key = str(path.resolve())
    if key not in store:
        ctx.progress(0.92, f"quality: KL divergence against {reference.name}")
        result = ctx.record(client, "quality", {"reference": str(cache), "ctx": QUALITY_CTX,
                                                "chunks": QUALITY_CHUNKS})
        store[key] = {k: float(result[k]) for k in QUALITY_METRICS if k in result}
    row.metrics.update(store[key])
    if key == str(reference.resolve()):
        row.flag("quality_reference", "quality reference (KL and Δ-PPL of the others are against it)", INFO)
