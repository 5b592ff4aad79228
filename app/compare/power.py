"""Energy readers: Linux RAPL counters (``/sys/class/powercap``) for CPUs, NVML for NVIDIA GPUs.

A reader either works or says why it cannot (no powercap zones, counters readable by root only, no
pynvml, no NVIDIA GPU), so the comparison table can print the reason instead of a zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

POWERCAP_ROOT = Path("/sys/class/powercap")


class EnergyReader(Protocol):
    """A monotonically growing energy counter in joules (wrap-around handled by the reader)."""

    source: str

    def read_joules(self) -> float:
        """Energy used since an arbitrary origin."""
        ...

    def close(self) -> None:
        """Release what the reader holds."""
        ...


@dataclass(frozen=True)
class PowerStatus:
    """Whether energy can be measured for a device, with what, and if not, why."""

    available: bool
    source: str  # "rapl" | "nvml" | ""
    detail: str  # the zones or GPU read, or the reason nothing can be read


class Unavailable(Exception):
    """Energy cannot be read; the message says why in words for the results table."""


@dataclass
class _Zone:
    path: Path
    name: str
    max_uj: int
    last_uj: int
    total_uj: int = 0


class RaplReader:
    """Sums the package-level RAPL zones (``intel-rapl:N``; AMD CPUs use the same driver names)."""

    source = "rapl"

    def __init__(self, root: Path = POWERCAP_ROOT) -> None:
        if not root.is_dir():
            raise Unavailable(f"no {root} (no RAPL power capping driver on this system)")
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not zones:
            raise Unavailable(f"no RAPL package zones under {root}")
        self._zones: list[_Zone] = []
        self._lock = threading.Lock()
        for path in zones:
            name = _read_text(path / "name") or path.name
            try:
                value = int(_read_text(path / "energy_uj", strict=True))
            except PermissionError:
                raise Unavailable(f"{path / 'energy_uj'} is readable by root only (Linux >= 5.10); "
                                  "run as root or grant read access to measure energy") from None
            except (OSError, ValueError) as exc:
                raise Unavailable(f"cannot read {path / 'energy_uj'}: {exc}") from None
            max_text = _read_text(path / "max_energy_range_uj")
            max_uj = int(max_text) if max_text.isdigit() else 2**32
            self._zones.append(_Zone(path, name, max_uj, value))
        self.detail = "RAPL " + ", ".join(z.name for z in self._zones) + " (whole CPU package, all processes)"

    def read_joules(self) -> float:
        """Energy of all package zones since the reader was made, in joules."""
        with self._lock:
            total = 0
            for zone in self._zones:
                value = int(_read_text(zone.path / "energy_uj", strict=True))
                delta = value - zone.last_uj
                if delta < 0:  # the counter wrapped at max_energy_range_uj
                    delta += zone.max_uj + 1
                zone.total_uj += delta
                zone.last_uj = value
                total += zone.total_uj
            return total / 1e6

    def close(self) -> None:
        """Nothing to release."""


def _read_text(path: Path, strict: bool = False) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        if strict:
            raise
        return ""


class NvmlReader:
    """One NVIDIA GPU's board energy: NVML's energy counter (Volta and later) or its power, integrated."""

    source = "nvml"

    def __init__(self, index: int, interval_s: float = 0.05) -> None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:
            raise Unavailable("pynvml is not installed (pip install nvidia-ml-py) so GPU power cannot "
                              "be read") from None
        try:
            pynvml.nvmlInit()
        except Exception as exc:
            raise Unavailable(f"NVML is not available: {exc}") from None
        self._nvml = pynvml
        try:
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(self._handle)
        except Exception as exc:
            pynvml.nvmlShutdown()
            raise Unavailable(f"NVML has no GPU {index}: {exc}") from None
        self.detail = f"NVML board energy of GPU {index} ({name if isinstance(name, str) else name.decode()})"
        self._counter_origin: float | None = None
        try:
            self._counter_origin = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        except Exception:
            self._integrator = _PowerIntegrator(self._power_watts, interval_s).start()
            self.detail += " by sampling power"

    def _power_watts(self) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0

    def read_joules(self) -> float:
        """Energy since the reader was made, in joules."""
        if self._counter_origin is not None:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) / 1000.0 - \
                self._counter_origin
        return self._integrator.joules()

    def close(self) -> None:
        """Stop sampling and shut NVML down."""
        if self._counter_origin is None:
            self._integrator.stop()
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


class _PowerIntegrator:
    """Integrates a power reading (watts) over time on a thread, trapezoid rule."""

    def __init__(self, read_watts: Callable[[], float], interval_s: float) -> None:
        self._read = read_watts
        self._interval = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._joules = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> _PowerIntegrator:
        self._last = (time.perf_counter(), self._read())
        self._thread = threading.Thread(target=self._loop, name="power-integrator", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._step()

    def _step(self) -> None:
        now, watts = time.perf_counter(), self._read()
        with self._lock:
            t0, w0 = self._last
            self._joules += (w0 + watts) / 2 * (now - t0)
            self._last = (now, watts)

    def joules(self) -> float:
        self._step()
        with self._lock:
            return self._joules

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def reader_for(device: str, powercap_root: Path = POWERCAP_ROOT) -> EnergyReader:
    """The energy reader for a workbench device id; :class:`Unavailable` says why there is none."""
    if device.startswith("cuda:"):
        return NvmlReader(int(device.partition(":")[2] or 0))
    if device == "cpu" or device.startswith("ort:CPUExecutionProvider"):
        return RaplReader(powercap_root)
    raise Unavailable(f"no energy reader for {device} (RAPL covers CPUs, NVML covers NVIDIA GPUs)")


def power_status(device: str, powercap_root: Path = POWERCAP_ROOT) -> PowerStatus:
    """Whether energy for ``device`` can be measured here, and how or why not."""
    try:
        reader = reader_for(device, powercap_root)
    except Unavailable as exc:
        return PowerStatus(False, "", str(exc))
    try:
        return PowerStatus(True, reader.source, str(getattr(reader, "detail", reader.source)))
    finally:
        reader.close()


@dataclass(frozen=True)
class Energy:
    """Energy used over one measured stretch of work."""

    joules: float
    seconds: float
    source: str

    @property
    def watts(self) -> float:
        """Mean power over the stretch."""
        return self.joules / self.seconds if self.seconds > 0 else 0.0


class EnergyMeter:
    """Measures the energy of a block of work: ``with meter.measure() as box: ...; box.energy``."""

    def __init__(self, device: str, powercap_root: Path = POWERCAP_ROOT) -> None:
        self.device = device
        self.reason = ""
        self._reader: EnergyReader | None = None
        try:
            self._reader = reader_for(device, powercap_root)
        except Unavailable as exc:
            self.reason = str(exc)

    @property
    def available(self) -> bool:
        """True when energy can be read for this device."""
        return self._reader is not None

    def measure(self) -> _Measurement:
        """A context manager whose ``energy`` is set on exit (None when energy cannot be read)."""
        return _Measurement(self._reader)

    def close(self) -> None:
        """Release the reader."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _Measurement:
    def __init__(self, reader: EnergyReader | None) -> None:
        self._reader = reader
        self.energy: Energy | None = None

    def __enter__(self) -> _Measurement:
        self._t0 = time.perf_counter()
        self._j0 = self._reader.read_joules() if self._reader is not None else 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._reader is None:
            return
        self.energy = Energy(self._reader.read_joules() - self._j0, time.perf_counter() - self._t0,
                             self._reader.source)
