"""The vision engine: load a classifier on a device and backend, then classify, evaluate, compare, measure."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind, RunContext
from engines.vision import agreement as agreement_mod
from engines.vision.backend import BACKENDS, Backend, check_precision
from engines.vision.loader import LoadedModel, load_model
from engines.vision.pipeline import ONE_DECODER, DecodePlan
from engines.vision.runtime import Runtime

OPS = ("classify", "eval", "card", "benchmark", "agreement")
DEFAULT_BATCH = 8


def _default_threads() -> int:
    try:
        from core.thread_env import default_threads
    except ImportError:
        return 1
    return default_threads()


def _positive_int(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key)
    if value in (None, "", 0):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"{key} must be a whole number, got {value!r}") from exc
    if number < 1:
        raise EngineError(ErrorKind.BAD_INPUT, f"{key} must be at least 1, got {number}")
    return number


class VisionEngine:
    """Implements :class:`engines.base.Engine` for image classifiers."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._backend: Backend | None = None
        self._batch = DEFAULT_BATCH
        self._decode = ONE_DECODER
        self._info: dict[str, Any] = {}
        self._card: dict[str, Any] | None = None

    # --- load -----------------------------------------------------------------------------------
    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Load ``model`` (path or starter id) and pick its backend: options backend, precision, threads, batch."""
        started = time.perf_counter()
        backend_name = str(options.get("backend") or "auto")
        if backend_name not in (*BACKENDS, "auto"):
            raise EngineError(ErrorKind.BAD_INPUT, f"unknown backend {backend_name!r} "
                                                   f"(choose {', '.join(BACKENDS)} or auto)")
        precision = check_precision(str(options.get("precision") or "fp32"))
        threads = _positive_int(options, "threads", _default_threads())
        self._batch = _positive_int(options, "batch", DEFAULT_BATCH)
        cores = os.cpu_count() or 1
        self._decode = DecodePlan.for_cores(threads, cores, _positive_int(options, "decode_workers", 0) or None)
        _set_torch_threads(threads)

        ctx.progress(0, 3, "reading the model")
        loaded = load_model(model, options)
        runtime = Runtime(loaded, device or "cpu", threads, calibration=options.get("calibration"),
                          on_progress=lambda message: ctx.progress(1, 3, message))
        ctx.progress(1, 3, "preparing the backend")
        auto: dict[str, Any] | None = None
        if backend_name == "auto":
            from engines.vision.autoselect import choose

            choice = choose(runtime, precision, self._batch, remeasure=bool(options.get("remeasure")))
            backend_name = choice.backend
            auto = {"chosen": choice.backend, "timings_ms": choice.timings_ms, "remembered": choice.remembered,
                    "skipped": choice.skipped, "batch": self._batch}
        backend = runtime.get(backend_name, precision)
        runtime.release(keep=(backend_name, precision, runtime.device))
        ctx.progress(2, 3, "first run")
        height, width = loaded.preprocess.input_size
        t0 = time.perf_counter()
        logits = backend.infer(np.zeros((1, 3, height, width), dtype=np.float32))
        cold_ms = (time.perf_counter() - t0) * 1000
        if logits.ndim != 2 or logits.shape[1] != loaded.num_classes:
            raise EngineError(ErrorKind.BAD_INPUT, f"{loaded.weights_path.name}: the model outputs shape "
                                                   f"{list(logits.shape)}, expected [batch, {loaded.num_classes}]")
        self._runtime, self._backend, self._card = runtime, backend, None
        self._info = self._describe(loaded, backend, runtime, auto, cold_ms, time.perf_counter() - started)
        ctx.progress(3, 3, "ready")
        return self._info

    def _describe(self, loaded: LoadedModel, backend: Backend, runtime: Runtime, auto: dict[str, Any] | None,
                  cold_ms: float, load_s: float) -> dict[str, Any]:
        reference = loaded.reference_top1
        return {
            "model_id": loaded.name, "name": loaded.name, "path": str(loaded.weights_path),
            "architecture": loaded.architecture, "format": loaded.format, "sha256": loaded.sha256,
            "device": runtime.device, "backend": backend.name, "precision": backend.precision,
            "threads": runtime.threads, "batch": self._batch, "decode_workers": self._decode.workers,
            "decode_in_background": self._decode.background,
            "num_classes": loaded.num_classes, "input_size": [3, *loaded.preprocess.input_size],
            "preprocess": loaded.preprocess.describe(), "preprocess_summary": loaded.preprocess.summary(),
            "reference_top1": None if reference is None else {"value": reference[0], "source": reference[1]},
            "backend_details": backend.details, "auto": auto, "notes": list(loaded.notes),
            "onnx_from_cache": runtime.exported_from_cache,
            "load_s": load_s, "cold_first_run_ms": cold_ms,
        }

    # --- run ------------------------------------------------------------------------------------
    def run(self, op: str, params: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Run ``classify``, ``eval``, ``card``, ``benchmark`` or ``agreement``."""
        if self._runtime is None or self._backend is None:
            raise EngineError(ErrorKind.BAD_INPUT, "no model is loaded")
        runtime, backend = self._runtime, self._backend
        if op == "classify":
            from engines.vision.classify_op import classify

            return classify(runtime.model, backend, params, ctx, batch=self._batch, decode=self._decode)
        if op == "eval":
            from engines.vision.eval_op import evaluate

            return evaluate(runtime, backend, params, ctx, batch=self._batch, decode=self._decode)
        if op == "card":
            return self.card()
        if op == "benchmark":
            from engines.vision.benchmark import benchmark

            return benchmark(runtime, params, ctx, backend=backend.name, precision=backend.precision)
        if op == "agreement":
            return self._agreement(params, ctx)
        raise EngineError(ErrorKind.BAD_INPUT, f"unknown op {op!r} (vision supports {', '.join(OPS)})")

    def card(self) -> dict[str, Any]:
        """The model card (computed once)."""
        assert self._runtime is not None
        if self._card is None:
            from engines.vision.card import build_card, count_onnx, count_torch

            model = self._runtime.model
            macs: int | None
            graph: str | None = None
            if model.module is not None:
                params, macs = count_torch(model.module, model.preprocess.input_size)
            else:
                params, macs = count_onnx(self._runtime.fp32_graph())
                graph = str(self._runtime.fp32_graph())
            self._card = build_card(model, params, macs, graph)
            self._card["loaded"] = {k: self._info.get(k) for k in ("backend", "precision", "device", "threads")}
        return self._card

    def _agreement(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        from engines.vision.decode import decode_image
        from engines.vision.labels import sample_images
        from engines.vision.preprocess import preprocess

        assert self._runtime is not None
        runtime = self._runtime
        images = [Path(str(p)) for p in (params.get("images") or sample_images())]
        if not images:
            raise EngineError(ErrorKind.BAD_INPUT, "agreement needs images (none given, no sample photos found)")
        arrays = [preprocess(decode_image(p).image, runtime.model.preprocess)[0] for p in images]
        combos = [(str(c[0]), str(c[1])) for c in params.get("combos") or []] or \
            agreement_mod.default_combos(runtime)
        ctx.progress(0, 1, f"comparing {len(combos)} backends on {len(images)} images")
        result = agreement_mod.agreement(runtime, np.stack(arrays), combos)
        result["image_paths"] = [str(p) for p in images]
        result["metrics"] = agreement_mod.flat_metrics(result)
        ctx.progress(1, 1)
        return result

    def unload(self) -> None:
        """Free the backends and the model."""
        if self._runtime is not None:
            self._runtime.close()
        self._runtime = self._backend = None
        self._card = None


def _set_torch_threads(threads: int) -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # only settable before the first parallel work; later loads keep the first value
