"""One registered model, as the registry stores it and every view shows it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SOURCES = ("hub", "import", "lmstudio", "ollama", "hf-cache", "package")


@dataclass(frozen=True)
class ModelRecord:
    """A model the workbench knows: where its file is, what it is, and where it came from."""

    id: str
    kind: str  # "llm" | "vision" | "bayes" | "other"
    format: str  # "gguf" | "onnx" | "safetensors" | "pth" | "bif" | "xdsl" | ...
    path: str  # empty for a starter model that is assembled on first use
    source: str  # one of SOURCES
    size_bytes: int | None = None
    sha256: str | None = None
    quant: str | None = None
    repo: str | None = None
    filename: str | None = None
    revision: str | None = None
    added_at: float | None = None
    last_used_at: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """True when the file is on disk (always true for an installed starter model)."""
        return self.source == "package" or (bool(self.path) and Path(self.path).exists())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (for ``--json`` and the GUI)."""
        return asdict(self)


def slugify(text: str) -> str:
    """A short id a person can type: lower case letters, digits, '.', '-' and '_'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-._")
    return slug[:64].rstrip("-._") or "model"
