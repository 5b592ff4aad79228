"""What this machine offers: CPU facts, torch devices, ONNX Runtime providers/devices, llama.cpp offload.

Every device has a stable id used everywhere else: ``cpu``, ``cuda:0``, ``mps``, ``dml:0``,
``ort:<ExecutionProvider>:<n>``. Probing imports torch, onnxruntime and llama_cpp (seconds): the GUI
calls :func:`probe_devices_cached`, which probes once in a subprocess and caches the answer.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core import paths
from core.thread_env import default_threads, physical_cores
from engines.base import Device

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve")

__all__ = ["Device", "cpu_info", "default_threads", "physical_cores", "probe_devices", "probe_devices_cached"]


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_info() -> dict[str, Any]:
    """CPU model, cores, ISA flags and RAM."""
    import psutil

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    model = info.get("model name") or platform.processor() or platform.machine()
    return {
        "model": model,
        "arch": platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False) or 1,
        "logical_cores": psutil.cpu_count(logical=True) or 1,
        "usable_cores": physical_cores(),
        "default_threads": default_threads(),
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "ram_bytes": int(psutil.virtual_memory().total),
        "ram_available_bytes": int(psutil.virtual_memory().available),
    }


def _torch_devices(errors: dict[str, str]) -> list[Device]:
    found: list[Device] = []
    try:
        import torch
    except Exception as exc:
        errors["torch"] = f"{type(exc).__name__}: {exc}"
        return found
    try:
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                found.append(Device(f"cuda:{index}", "gpu", "torch", props.name, "NVIDIA",
                                    int(props.total_memory),
                                    {"capability": f"{props.major}.{props.minor}",
                                     "torch_cuda": str(torch.version.cuda)}))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.append(Device("mps", "gpu", "torch", "Apple GPU (Metal)", "Apple"))
    except Exception as exc:
        errors["torch.cuda"] = f"{type(exc).__name__}: {exc}"
    try:
        import torch_directml  # type: ignore[import-not-found]

        for index in range(torch_directml.device_count()):
            found.append(Device(f"dml:{index}", "gpu", "torch", torch_directml.device_name(index)))
    except ImportError:
        pass
    except Exception as exc:
        errors["torch_directml"] = f"{type(exc).__name__}: {exc}"
    return found


# Providers that send the work elsewhere (Azure: a cloud endpoint) rather than to hardware of this machine.
REMOTE_ORT_PROVIDERS = frozenset({"AzureExecutionProvider"})


def _ort_devices(errors: dict[str, str]) -> list[Device]:
    found: list[Device] = []
    try:
        from engines.vision.ort_telemetry import import_onnxruntime

        ort = import_onnxruntime()
    except Exception as exc:
        errors["onnxruntime"] = f"{type(exc).__name__}: {exc}"
        return found
    providers = list(ort.get_available_providers())
    ep_devices: list[Any] = []
    get_ep_devices = getattr(ort, "get_ep_devices", None)
    if get_ep_devices is not None:
        try:
            ep_devices = list(get_ep_devices())
        except Exception as exc:
            errors["onnxruntime.get_ep_devices"] = f"{type(exc).__name__}: {exc}"
    counts: dict[str, int] = {}
    described: set[str] = set()
    for ep_device in ep_devices:
        ep_name = str(getattr(ep_device, "ep_name", ""))
        if ep_name in REMOTE_ORT_PROVIDERS:
            continue
        hardware = getattr(ep_device, "device", None)
        hw_type = str(getattr(hardware, "type", "")).rsplit(".", 1)[-1].lower() or "cpu"
        index = counts.get(ep_name, 0)
        counts[ep_name] = index + 1
        described.add(ep_name)
        found.append(Device(
            f"ort:{ep_name}:{index}", hw_type if hw_type in ("cpu", "gpu", "npu") else "cpu", "onnxruntime",
            f"{ep_name} on {getattr(ep_device, 'ep_vendor', '') or ''!s} {hw_type.upper()}".strip(),
            str(getattr(hardware, "vendor", "") or getattr(ep_device, "ep_vendor", "") or ""),
            details={"vendor_id": getattr(hardware, "vendor_id", None),
                     "device_id": getattr(hardware, "device_id", None)},
        ))
    for provider in providers:
        if provider in described or provider in REMOTE_ORT_PROVIDERS:
            continue
        kind = "npu" if provider in ("QNNExecutionProvider", "VitisAIExecutionProvider") else (
            "cpu" if provider in ("CPUExecutionProvider", "DnnlExecutionProvider", "XnnpackExecutionProvider")
            else "gpu")
        found.append(Device(f"ort:{provider}:0", kind, "onnxruntime", provider))
    return found


def _llama_devices(errors: dict[str, str], gpus: list[Device]) -> tuple[list[Device], bool | None]:
    try:
        import llama_cpp
    except Exception as exc:
        errors["llama_cpp"] = f"{type(exc).__name__}: {exc}"
        return [], None
    try:
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:
        errors["llama_cpp.offload"] = f"{type(exc).__name__}: {exc}"
        return [], None
    found = []
    if offload:
        for gpu in gpus:
            if gpu.id.startswith("cuda:") or gpu.id == "mps":
                found.append(Device(gpu.id, "gpu", "llama.cpp", gpu.name, gpu.vendor, gpu.memory_bytes))
    return found, offload


def probe_devices(with_report: bool = False) -> Any:
    """Probe every device; with ``with_report`` also return the CPU facts, versions and probe errors."""
    errors: dict[str, str] = {}
    cpu = cpu_info()
    devices = [Device("cpu", "cpu", "cpu", cpu["model"], "", cpu["ram_bytes"],
                      {"physical_cores": cpu["physical_cores"], "isa": cpu["isa"]})]
    torch_devices = _torch_devices(errors)
    devices += torch_devices
    devices += _ort_devices(errors)
    llama, offload = _llama_devices(errors, torch_devices)
    devices += llama
    if not with_report:
        return devices
    return {"cpu": cpu, "devices": devices, "llama_gpu_offload": offload, "errors": errors,
            "versions": library_versions(), "platform": platform.platform()}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide what runs where."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "onnxruntime", "onnxruntime-directml", "onnxruntime-gpu",
                 "llama-cpp-python", "numpy", "PySide6-Essentials", "local-ai-workbench"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def report_to_json(report: dict[str, Any]) -> dict[str, Any]:
    """The probe report as JSON-able data."""
    return {**report, "devices": [asdict(d) for d in report["devices"]]}


def devices_from_json(items: list[dict[str, Any]]) -> list[Device]:
    """Rebuild Device objects from JSON."""
    return [Device(**item) for item in items]


def probe_devices_cached(refresh: bool = False, timeout: float = 120.0) -> dict[str, Any]:
    """The probe report from a cache file, probing in a subprocess (no heavy imports here) when needed."""
    try:
        cache: Path | None = paths.cache_dir("devices") / "devices.json"
    except OSError:
        cache = None  # a read-only data folder: probe every time, keep nothing
    key = json.dumps(library_versions(), sort_keys=True)
    if not refresh and cache is not None and cache.exists():
        try:
            data = json.loads(cache.read_text())
            if data.get("key") == key:
                report: dict[str, Any] = data["report"]
                return report
        except (OSError, ValueError, KeyError):
            pass
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-m", "app.devices", "--json"], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"device probe failed: {done.stderr.strip()[-500:]}")
    report = json.loads(done.stdout)
    if cache is not None:
        try:
            cache.write_text(json.dumps({"key": key, "report": report}))
        except OSError:
            pass  # the cache only saves the next probe; a read-only data folder must not stop this one
    return report


if __name__ == "__main__":
    sys.stdout.write(json.dumps(report_to_json(probe_devices(with_report=True)), default=str) + "\n")
