"""The ``eval`` operation: a labelled ImageFolder in, accuracy, confusion matrix and per-class scores out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind, RunCancelled, RunContext
from engines.vision import agreement as agreement_mod
from engines.vision.backend import Backend
from engines.vision.evaluation import scan_labelled_folder, summarise
from engines.vision.pipeline import DecodePlan
from engines.vision.postprocess import top_k_indices
from engines.vision.prob_scores import ProbabilityLog, probability_scores
from engines.vision.report import write_reports
from engines.vision.runtime import Runtime
from engines.vision.scoring import RunStats, score_request

AGREEMENT_IMAGES = 32  # images of the folder re-run on every backend for the agreement table


def evaluate(runtime: Runtime, backend: Backend, params: Mapping[str, Any], ctx: RunContext, *,
             batch: int, decode: DecodePlan) -> dict[str, Any]:
    """Classify every image of the folder and score the answers against the folder names."""
    model = runtime.model
    folder = params.get("folder", params.get("path"))
    if not folder:
        raise EngineError(ErrorKind.BAD_INPUT, "eval needs 'folder': a folder with one sub-folder per class")
    labelled = scan_labelled_folder(str(folder), model.labels)
    total = len(labelled.paths)
    stats = RunStats()
    targets: list[int] = []
    predictions: list[int] = []
    hits1: list[bool] = []
    hits5: list[bool] = []
    errors: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    prob_log = ProbabilityLog(list(labelled.class_to_model))
    class_of = {idx: name for name, idx in zip(labelled.classes, labelled.class_to_model, strict=True)}
    ctx.progress(0, total, f"evaluating {total} images in {len(labelled.classes)} classes")
    try:
        for scored in score_request(backend, labelled.paths, model.preprocess, params, batch=batch, ctx=ctx,
                                    stats=stats, decode=decode):
            item = scored.item
            target = labelled.targets[item.index]
            if scored.probs is None:
                errors.append(item.failure())
                ctx.partial({"index": item.index, "ok": False, **item.failure()})
                continue
            top = top_k_indices(scored.probs[None, :], 5)[0]
            targets.append(target)
            predictions.append(int(top[0]))
            hits1.append(int(top[0]) == target)
            hits5.append(target in top.tolist())
            prob_log.add(scored.probs, target)
            if len(kept) < AGREEMENT_IMAGES and item.array is not None:
                kept.append(item.array)
            ctx.partial({"index": item.index, "path": str(item.path), "ok": True, "class": class_of[target],
                         "predicted": model.labels[int(top[0])], "prob": float(scored.probs[top[0]]),
                         "correct": hits1[-1]})
    except RunCancelled:
        raise RunCancelled({"metrics": stats.metrics(), "evaluated": stats.done}) from None
    if not targets:
        raise EngineError(ErrorKind.BAD_INPUT, f"{folder}: none of the {total} images could be read "
                                               f"(first error: {errors[0]['error'] if errors else '?'})")
    result = summarise(labelled, targets, predictions, hits1, hits5, model.labels)
    result.update({"folder": str(Path(str(folder)).resolve()), "model": model.name, "backend": backend.name,
                   "precision": backend.precision, "device": backend.device, "failed": len(errors),
                   "errors": errors[:200], "preprocess": model.preprocess.summary()})
    bins = params.get("ece_bins", 15)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 100:
        raise EngineError(ErrorKind.BAD_INPUT, f"ece_bins must be a whole number from 2 to 100, not {bins!r}")
    result["probability"] = probability_scores(prob_log, labelled.classes, bins)
    metrics = stats.metrics()
    metrics.update({"top1_accuracy": result["top1"], "top5_accuracy": result["top5"],
                    "macro_f1": result["macro"]["f1"], "evaluated": float(len(targets)),
                    "ece": result["probability"]["ece"],
                    "top3_accuracy": result["probability"]["topk_accuracy"]["3"]})
    for name in ("auc_roc_macro", "auc_pr_macro"):
        if result["probability"][name] is not None:
            metrics[name] = result["probability"][name]
    if params.get("agreement", True) and kept:
        ctx.progress(total, total, "comparing backends and precisions with the fp32 reference")
        combos = agreement_mod.default_combos(runtime) if params.get("agreement") == "all" else \
            _own_combos(runtime, backend)
        result["agreement"] = agreement_mod.agreement(runtime, np.stack(kept), combos)
        metrics.update(agreement_mod.flat_metrics(result["agreement"]))
    result["metrics"] = metrics
    result["series"] = {"latency_ms": stats.series}
    if params.get("report"):
        formats = params.get("formats") or ("json", "md", "html")
        result["report_files"] = [str(p) for p in write_reports(result, Path(str(params["report"])), formats)]
    return result


def _own_combos(runtime: Runtime, backend: Backend) -> list[tuple[str, str]]:
    combos = [("torch", "fp32")] if runtime.model.module is not None else []
    combos.append(("onnxruntime", "fp32"))
    if (backend.name, backend.precision) not in combos:
        combos.append((backend.name, backend.precision))
    return combos
