"""A short memory-bandwidth probe, for LLM decode's model-bandwidth utilisation (MBU).

Decoding one token reads every weight once, so ``model bytes x tokens/s`` is the bandwidth decode
achieves; divided by what the memory can deliver it says how close to the hardware limit decode runs.
The probe copies a buffer much larger than the caches (a STREAM "copy"), counting bytes read and written,
and keeps the best of a few passes. It measures what one thread of this process gets, which is what
llama.cpp's decode with few threads sees on small machines. Buffers of 256 MiB gave 17-19 GB/s on the
2-core build VM where 128 MiB gave 10-11 (large copies take glibc's non-temporal path): hence 256 MiB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Bandwidth:
    """A measured (or, for GPUs, specified) memory bandwidth."""

    bytes_per_s: float
    method: str  # "measured: ..." or "theoretical: ..."

    @property
    def gb_per_s(self) -> float:
        """In GB/s (10^9 bytes)."""
        return self.bytes_per_s / 1e9


def probe_cpu_bandwidth(size_mib: int = 256, passes: int = 5, budget_s: float = 1.5) -> Bandwidth:
    """Best-of-``passes`` copy bandwidth over a ``size_mib`` buffer, within ``budget_s`` seconds."""
    import numpy as np

    count = size_mib * 2**20 // 8
    source = np.ones(count, dtype=np.float64)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page first: page faults are not bandwidth
    best = float("inf")
    deadline = time.perf_counter() + budget_s
    for _ in range(passes):
        t0 = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    moved = 2 * source.nbytes  # one read and one write of every byte
    return Bandwidth(moved / best, f"measured: best of {passes} single-thread copies of {size_mib} MiB")


def nvml_gpu_bandwidth(index: int) -> Bandwidth | None:
    """The GPU's specified peak bandwidth from NVML (memory clock x bus width x 2), or None."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
        bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    if not clock_mhz or not bus_bits:
        return None
    # NVML reports the memory clock such that double data rate gives the transfer rate.
    bytes_per_s = clock_mhz * 1e6 * 2 * bus_bits / 8
    return Bandwidth(bytes_per_s, f"theoretical: {clock_mhz} MHz x {bus_bits}-bit bus x 2 (NVML)")


def bandwidth_for(device: str, cpu: Bandwidth | None) -> Bandwidth | None:
    """The bandwidth that bounds decode on ``device``: the probed CPU figure, or the GPU's from NVML."""
    if device.startswith("cuda:"):
        return nvml_gpu_bandwidth(int(device.partition(":")[2] or 0))
    if device == "cpu":
        return cpu
    return None


def model_bandwidth_utilisation(model_bytes: float, tokens_per_s: float, bandwidth: Bandwidth) -> float:
    """MBU: the fraction of the memory bandwidth decode uses (model bytes read per token x tokens/s)."""
    return model_bytes * tokens_per_s / bandwidth.bytes_per_s
