"""Energy of a run against a local endpoint: RAPL for the CPU package, NVML for NVIDIA GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.compare.power import POWERCAP_ROOT, EnergyMeter


@dataclass(frozen=True)
class RunEnergy:
    """Joules per device over the run, and why a device could not be read."""

    joules: dict[str, float]
    sources: dict[str, str]
    unavailable: dict[str, str]

    @property
    def total_j(self) -> float | None:
        """All readable devices together; None when none could be read."""
        return sum(self.joules.values()) if self.joules else None


class RunEnergyMeter:
    """Reads every device's counter at the start and the end of a run (whole device, all processes)."""

    def __init__(self, devices: tuple[str, ...] = ("cpu", "cuda:0"), powercap_root: Path | None = None) -> None:
        root = powercap_root or POWERCAP_ROOT
        self._meters = {d: EnergyMeter(d, root) for d in devices}
        self._boxes: dict[str, Any] = {}

    def __enter__(self) -> RunEnergyMeter:
        for device, meter in self._meters.items():
            if meter.available:
                box = meter.measure()
                box.__enter__()
                self._boxes[device] = box
        return self

    def __exit__(self, *exc: object) -> None:
        for box in self._boxes.values():
            box.__exit__(None, None, None)
        for meter in self._meters.values():
            meter.close()

    def result(self) -> RunEnergy:
        """What was measured (call after the ``with`` block)."""
        joules, sources = {}, {}
        for device, box in self._boxes.items():
            energy = getattr(box, "energy", None)
            if energy is not None:
                joules[device], sources[device] = energy.joules, energy.source
        unavailable = {d: m.reason for d, m in self._meters.items() if d not in joules}
        return RunEnergy(joules, sources, unavailable)
