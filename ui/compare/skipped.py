"""Configurations a comparison was asked for but did not plan, each with the reason (no Qt).

The vision plan (``app.compare.vision_workload.configs``) leaves out the combinations a backend cannot run:
int8 runs through ONNX Runtime only, fp16 only on accelerators. A person who ticked torch and int8 and got
three rows of four must see the fourth, and why, in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.compare.results import CompareSession

ACCELERATOR_PREFIXES = ("cuda:", "dml:", "mps")


@dataclass(frozen=True)
class Skipped:
    """One configuration left out of a comparison's plan."""

    workload: str
    device: str
    backend: str
    precision: str
    reason: str

    @property
    def label(self) -> str:
        """``cpu torch int8``, like a result row's label."""
        return f"{self.device} {self.backend} {self.precision}"


def _accelerator(device: str) -> bool:
    return device.startswith(ACCELERATOR_PREFIXES) or (
        device.startswith("ort:") and not device.startswith("ort:CPUExecutionProvider"))


def skip_reason(device: str, backend: str, precision: str) -> str | None:
    """Why the vision plan never runs this combination, or None when it does."""
    if precision == "int8" and backend != "onnxruntime":
        return f"skipped: int8 runs through ONNX Runtime only ({backend} has no int8 path)"
    if precision == "fp16" and not _accelerator(device):
        return f"skipped: fp16 runs on accelerators only, not on {device}"
    return None


def skipped_configs(session: CompareSession) -> list[Skipped]:
    """The vision combinations the session's settings asked for that its plan left out, with the reason.

    Only combinations with a known reason are listed: one missing because the run was cancelled is not.
    """
    settings = session.settings or {}
    backends, precisions = settings.get("vision_backends"), settings.get("vision_precisions")
    if not backends or not precisions:
        return []  # nothing explicitly asked for: the plan chose what runs
    rows = [r for r in session.results if r.workload == "vision"]
    devices = list(dict.fromkeys(r.device for r in rows))
    planned = {(r.device, r.backend, r.precision) for r in rows}
    out = []
    for device in devices:
        for backend in backends:
            for precision in precisions:
                reason = skip_reason(device, backend, precision)
                if reason is not None and (device, backend, precision) not in planned:
                    out.append(Skipped("vision", device, str(backend), str(precision), reason))
    return out
