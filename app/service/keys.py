"""What identifies a slot (engine, model, device) and how its model is loaded (options, threads)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SlotKey:
    """One worker's identity: a request for the same engine, model and device reuses its slot."""

    engine: str
    model: str  # the resolved path (or the engine's own name, e.g. a shipped network)
    device: str = "cpu"

    def __str__(self) -> str:
        return f"{self.engine}:{self.model}@{self.device}"


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """How a slot's model is loaded; a request with another spec reloads the slot before it runs."""

    options: Mapping[str, Any] = field(default_factory=dict)
    threads: int | None = None

    def fingerprint(self) -> str:
        """A stable text form, to compare specs whose option values are plain data."""
        return json.dumps({"options": dict(self.options), "threads": self.threads}, sort_keys=True, default=str)

    def same_as(self, other: LoadSpec | None) -> bool:
        """True when ``other`` loads the model the same way."""
        return other is not None and self.fingerprint() == other.fingerprint()
