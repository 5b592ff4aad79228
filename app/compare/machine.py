"""The machine fingerprint stored with every comparison, so results from different machines stay apart."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

# Environment variables that change how fast engines run; recorded as they were for the run.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "WORKBENCH_THREADS", "CUDA_VISIBLE_DEVICES")


def _gpus(devices: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for device in devices:
        # ONNX Runtime lists the same hardware again per provider; those are kept as providers.
        if device.get("kind") not in ("gpu", "npu") or device.get("backend") == "onnxruntime" \
                or device["id"] in seen:
            continue
        seen.add(device["id"])
        out.append({"id": device["id"], "kind": device.get("kind"), "backend": device.get("backend"),
                    "name": device.get("name"), "vendor": device.get("vendor"),
                    "memory_bytes": device.get("memory_bytes")})
    return out


def machine_fingerprint(report: Mapping[str, Any]) -> dict[str, Any]:
    """CPU, RAM, GPUs, OS, library versions and thread settings, from a device probe report."""
    from core.thread_env import default_threads, worker_environment

    cpu = dict(report.get("cpu") or {})
    cpu.pop("ram_available_bytes", None)  # changes from minute to minute: not part of the machine
    gpus = _gpus(report.get("devices") or [])
    facts: dict[str, Any] = {
        "cpu": cpu,
        "ram_bytes": cpu.get("ram_bytes"),
        "gpus": gpus,
        "onnxruntime_devices": sorted({str(d["id"]) for d in report.get("devices") or []
                                       if d.get("backend") == "onnxruntime"}),
        "os": report.get("platform") or platform.platform(),
        "python": platform.python_version(),
        "versions": dict(report.get("versions") or {}),
        "llama_gpu_offload": report.get("llama_gpu_offload"),
        "threads": {
            "default_threads": default_threads(),
            "worker_env": worker_environment(None),
            "host_env": {name: os.environ.get(name) for name in THREAD_VARIABLES if os.environ.get(name)},
        },
        # Hashed: enough to tell two hosts apart without publishing their names in an export.
        "host": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12],
        "recorded_at": time.time(),
    }
    facts["id"] = fingerprint_id(facts)
    facts["label"] = machine_label(facts)
    return facts


def fingerprint_id(facts: Mapping[str, Any]) -> str:
    """A short id that changes when the hardware, OS or host changes (not with the time of day)."""
    cpu = facts.get("cpu") or {}
    ram = facts.get("ram_bytes") or 0
    stable = {
        "cpu": [cpu.get("model"), cpu.get("arch"), cpu.get("physical_cores"), cpu.get("logical_cores"),
                sorted(cpu.get("isa") or [])],
        "ram_gib": round(ram / 2**30),
        "gpus": sorted(f"{g.get('name')}|{g.get('memory_bytes')}" for g in facts.get("gpus") or []),
        "os": str(facts.get("os") or "").split("-with-")[0],
        "host": facts.get("host"),
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:12]


def machine_label(facts: Mapping[str, Any]) -> str:
    """A one-line description such as ``AMD EPYC · 2 cores · 24 GiB · no GPU``."""
    cpu = facts.get("cpu") or {}
    parts = [str(cpu.get("model") or "unknown CPU")]
    cores = cpu.get("physical_cores")
    if cores:
        parts.append(f"{cores} cores")
    ram = facts.get("ram_bytes")
    if ram:
        parts.append(f"{ram / 2**30:.0f} GiB")
    gpu_names = sorted({str(g.get("name")) for g in facts.get("gpus") or [] if g.get("kind") == "gpu"})
    parts.append(", ".join(gpu_names) if gpu_names else "no GPU")
    return " · ".join(parts)
