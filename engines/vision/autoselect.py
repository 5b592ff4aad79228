"""``--backend auto``: time each usable backend on this machine for this model, keep the fastest, remember it."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError
from engines.vision.backend import Backend
from engines.vision.runtime import Runtime


@dataclass
class Choice:
    """The chosen backend and the evidence."""

    backend: str
    timings_ms: dict[str, float] = field(default_factory=dict)  # median batch latency per backend
    remembered: bool = False
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> why it could not run


def candidates(runtime: Runtime, precision: str) -> list[str]:
    """Backends that can serve this model, device and precision."""
    if precision == "int8" or runtime.model.module is None or runtime.device.startswith("ort:"):
        return ["onnxruntime"]
    return ["torch", "onnxruntime"]


def store_path() -> Path:
    """The file holding remembered choices."""
    from core import paths

    return paths.cache_dir("vision") / "auto_backend.json"


def choice_key(runtime: Runtime, precision: str, batch: int) -> str:
    """What a measurement depends on: model, device, precision, threads, batch and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for name in ("torch", "onnxruntime"):
        try:
            versions.append(f"{name}{version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name}-")
    return "|".join([runtime.model.sha256[:20], runtime.device, precision, f"t{runtime.threads}", f"b{batch}",
                     *versions])


def _load_store() -> dict[str, Any]:
    try:
        data = json.loads(store_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_store(data: dict[str, Any]) -> None:
    target = store_path()
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(partial, target)


def measure(backend: Backend, batch: np.ndarray, *, warmup: int = 2, min_runs: int = 5,
            max_runs: int = 30, budget_s: float = 0.6) -> float:
    """Median latency (ms) of ``backend`` on ``batch`` after warm-up."""
    for _ in range(warmup):
        backend.infer(batch)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        backend.infer(batch)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def choose(runtime: Runtime, precision: str, batch: int, *, remeasure: bool = False) -> Choice:
    """The fastest backend for this model here (measured once, then remembered)."""
    options = candidates(runtime, precision)
    key = choice_key(runtime, precision, batch)
    store = _load_store()
    known = store.get(key)
    if not remeasure and isinstance(known, dict) and known.get("backend") in options:
        return Choice(str(known["backend"]), dict(known.get("timings_ms", {})), remembered=True)
    if len(options) == 1:
        return Choice(options[0])
    height, width = runtime.model.preprocess.input_size
    inputs = np.random.default_rng(0).standard_normal((batch, 3, height, width)).astype(np.float32)
    choice = Choice(options[0])
    for name in options:
        try:
            choice.timings_ms[name] = measure(runtime.get(name, precision), inputs)
        except EngineError as exc:
            choice.skipped[name] = exc.message
    if not choice.timings_ms:
        raise EngineError("unsupported", "no backend can run this model here: " +
                          "; ".join(f"{k}: {v}" for k, v in choice.skipped.items()))
    choice.backend = min(choice.timings_ms, key=lambda name: choice.timings_ms[name])
    store[key] = {"backend": choice.backend, "timings_ms": choice.timings_ms, "measured_at": time.time()}
    _save_store(store)
    return choice
