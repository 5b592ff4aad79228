"""NVIDIA GPU memory through NVML (nvidia-ml-py): readable without importing torch, None where absent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_unavailable = False


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """Memory of one GPU, in bytes."""

    index: int
    used: int
    free: int
    total: int


@contextmanager
def _session() -> Iterator[Any]:
    import pynvml  # type: ignore[import-not-found]

    pynvml.nvmlInit()
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def _read(reader: Callable[[Any], T]) -> T | None:
    # A machine without the library or the driver stays without them while the app runs: ask once.
    global _unavailable
    if _unavailable:
        return None
    try:
        import pynvml  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        _unavailable = True
        return None
    try:
        with _session() as nvml:
            return reader(nvml)
    except Exception as exc:
        if type(exc).__name__ in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded"):
            _unavailable = True
        return None


def gpu_memory() -> list[GpuMemory] | None:
    """Every NVIDIA GPU's memory, or None where NVML cannot be read."""
    def read(nvml: Any) -> list[GpuMemory]:
        out = []
        for index in range(nvml.nvmlDeviceGetCount()):
            info = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(index))
            out.append(GpuMemory(index, int(info.used), int(info.free), int(info.total)))
        return out

    return _read(read)


def process_gpu_memory(pid: int) -> int | None:
    """GPU memory used by one process across all GPUs, or None where NVML cannot be read."""
    def read(nvml: Any) -> int:
        used = 0
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory:
                    used += int(proc.usedGpuMemory)
        return used

    return _read(read)
