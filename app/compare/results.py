"""A comparison session and its result rows, as stored, exported and imported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Flag levels: a warning changes how a number must be read; info adds a fact.
WARNING, INFO = "warning", "info"


@dataclass
class Flag:
    """Something a reader of a row must know (a failure, a silent fallback, answers that differ...)."""

    code: str  # failed | cancelled | cpu_fallback | no_faster_than_cpu | disagrees | overtakes_cpu | ...
    message: str
    level: str = WARNING

    def to_dict(self) -> dict[str, str]:
        """Plain data."""
        return {"code": self.code, "message": self.message, "level": self.level}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Flag:
        """From :meth:`to_dict` output."""
        return cls(str(data["code"]), str(data.get("message", "")), str(data.get("level", WARNING)))


@dataclass
class ResultRow:
    """One configuration's measurement: cold and warm metrics, every sample, and flags."""

    workload: str
    device: str
    backend: str
    precision: str
    variant: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    run_id: str | None = None
    id: int | None = None
    session_id: str | None = None

    @property
    def label(self) -> str:
        """``device backend precision variant``."""
        return " ".join(p for p in (self.device, self.backend, self.precision, self.variant) if p)

    @property
    def status(self) -> str:
        """ok, failed or cancelled (from the flags)."""
        codes = {f.code for f in self.flags}
        return "failed" if "failed" in codes else "cancelled" if "cancelled" in codes else "ok"

    @property
    def ok(self) -> bool:
        """True when the configuration was measured."""
        return self.status == "ok"

    def flag(self, code: str, message: str, level: str = WARNING) -> None:
        """Add a flag, replacing one with the same code."""
        self.flags = [f for f in self.flags if f.code != code] + [Flag(code, message, level)]

    def has_flag(self, code: str) -> bool:
        """Whether a flag with this code is set."""
        return any(f.code == code for f in self.flags)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"workload": self.workload, "device": self.device, "backend": self.backend,
                "precision": self.precision, "variant": self.variant, "status": self.status,
                "metrics": dict(self.metrics), "flags": [f.to_dict() for f in self.flags],
                "samples": {k: list(v) for k, v in self.samples.items()}, "run_id": self.run_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultRow:
        """From :meth:`to_dict` output (or a stored row)."""
        return cls(
            workload=str(data["workload"]), device=str(data.get("device") or ""),
            backend=str(data.get("backend") or ""), precision=str(data.get("precision") or ""),
            variant=str(data.get("variant") or ""),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()
                     if isinstance(v, int | float) and not isinstance(v, bool)},
            flags=[Flag.from_dict(f) for f in data.get("flags") or []],
            samples={str(k): [float(x) for x in v] for k, v in (data.get("samples") or {}).items()},
            run_id=data.get("run_id"),
        )


@dataclass
class CompareSession:
    """One comparison: where and how it ran, and its rows."""

    id: str
    created_at: float
    workload: str  # "llm", "vision,bayes", ...
    settings: dict[str, Any]
    machine: dict[str, Any]
    status: str  # running | ok | cancelled | failed
    ended_at: float | None = None
    source: str = "local"  # local, or "import: <file>"
    meta: dict[str, Any] = field(default_factory=dict)
    results: list[ResultRow] = field(default_factory=list)

    @property
    def machine_label(self) -> str:
        """The machine's one-line description."""
        return str(self.machine.get("label") or self.machine.get("id") or "unknown machine")

    @property
    def imported(self) -> bool:
        """True for a session read from another machine's export."""
        return self.source != "local"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, results included."""
        return {"id": self.id, "created_at": self.created_at, "ended_at": self.ended_at,
                "workload": self.workload, "settings": self.settings, "machine": self.machine,
                "status": self.status, "source": self.source, "meta": self.meta,
                "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompareSession:
        """From :meth:`to_dict` output."""
        return cls(
            id=str(data["id"]), created_at=float(data.get("created_at") or 0.0),
            workload=str(data.get("workload") or ""), settings=dict(data.get("settings") or {}),
            machine=dict(data.get("machine") or {}), status=str(data.get("status") or "ok"),
            ended_at=data.get("ended_at"), source=str(data.get("source") or "local"),
            meta=dict(data.get("meta") or {}),
            results=[ResultRow.from_dict(r) for r in data.get("results") or []],
        )
