"""The ``classify`` operation: files and folders in, top-k labels and stage times per image out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engines.base import EngineError, ErrorKind, RunCancelled, RunContext
from engines.vision.backend import Backend
from engines.vision.files import collect_images
from engines.vision.loader import LoadedModel
from engines.vision.pipeline import DecodePlan
from engines.vision.postprocess import top_k
from engines.vision.scoring import RunStats, score_request
from engines.vision.types import ClassifyRow

MAX_RESULTS_KEPT = 1000  # per-image rows in the final result (all of them stream as partials)


def input_paths(params: Mapping[str, Any]) -> list[str]:
    """The files and folders named by ``paths`` (a list) or ``path`` (one)."""
    raw = params.get("paths", params.get("path"))
    if raw is None:
        raise EngineError(ErrorKind.BAD_INPUT, "classify needs 'paths': image files or folders")
    items = [raw] if isinstance(raw, str) else list(raw)
    if not items:
        raise EngineError(ErrorKind.BAD_INPUT, "classify needs at least one image file or folder")
    return [str(p) for p in items]


def classify(model: LoadedModel, backend: Backend, params: Mapping[str, Any], ctx: RunContext, *,
             batch: int, decode: DecodePlan) -> dict[str, Any]:
    """Classify every image named; bad files are reported one by one and the rest still run."""
    topk = max(1, int(params.get("topk", 5)))
    found = collect_images(input_paths(params), recursive=bool(params.get("recursive", True)))
    errors: list[dict[str, Any]] = []
    for path, kind, message in found.problems:
        errors.append({"path": path, "kind": kind, "error": message})
        ctx.partial({"index": -1, "path": path, "ok": False, "kind": kind, "error": message})
    if not found.images:
        words = "; ".join(e["error"] for e in errors) or "no images given"
        raise EngineError(ErrorKind.NOT_FOUND if all(e["kind"] == "not_found" for e in errors) and errors
                          else ErrorKind.BAD_INPUT, f"nothing to classify: {words}")
    total = len(found.images)
    stats = RunStats()
    results: list[dict[str, Any]] = []
    ctx.progress(0, total, f"classifying {total} images")
    try:
        for scored in score_request(backend, found.images, model.preprocess, params, batch=batch, ctx=ctx,
                                    stats=stats, decode=decode):
            item = scored.item
            row: ClassifyRow
            if scored.probs is None:
                failure = item.failure()
                row = {"index": item.index, "path": failure["path"], "ok": False,
                       "kind": failure["kind"], "error": failure["error"]}
                errors.append(failure)
            else:
                row = {"index": item.index, "path": str(item.path), "ok": True,
                       "top": top_k(scored.probs, topk, model.labels), "times_ms": scored.times(),
                       "latency_ms": round(scored.latency_ms, 3), "batch_size": scored.batch_size,
                       "size": list(item.size or ()), "mode": item.mode, "notes": item.notes}
                if len(results) < MAX_RESULTS_KEPT:
                    results.append({"path": row["path"], "label": row["top"][0]["label"],
                                    "prob": row["top"][0]["prob"]})
            ctx.partial(row)
    except RunCancelled:
        # The summary so far rides on the cancel, for hosts that forward it.
        raise RunCancelled(_summary(model, backend, stats, errors, found.skipped_files, results, total,
                                    cancelled=True)) from None
    return _summary(model, backend, stats, errors, found.skipped_files, results, total, cancelled=False)


def _summary(model: LoadedModel, backend: Backend, stats: RunStats, errors: list[dict[str, Any]],
             skipped: int, results: list[dict[str, Any]], total: int, *, cancelled: bool) -> dict[str, Any]:
    metrics = stats.metrics()
    metrics["skipped_files"] = float(skipped)
    return {
        "model": model.name,
        "backend": backend.name,
        "precision": backend.precision,
        "device": backend.device,
        "backend_details": backend.details,
        "preprocess": model.preprocess.summary(),
        "images": total,
        "classified": stats.done,
        "failed": len(errors),
        "skipped_files": skipped,
        "cancelled": cancelled,
        "errors": errors[:200],
        "results": results,
        "metrics": metrics,
        "series": {"latency_ms": stats.series},
    }
