"""Model files on disk: walking folders, grouping split files, and turning a detected file into a record."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.models.errors import ModelError, Reason
from app.models.formats import Detected
from app.models.records import ModelRecord

_SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})(?P<suffix>\.[A-Za-z0-9]+)$")
# Files that are never models, skipped without being opened (folders of tokenizers, cards and images).
_NOT_MODELS = (".json", ".md", ".txt", ".py", ".yaml", ".yml", ".png", ".jpg", ".jpeg", ".gif", ".html",
               ".model", ".tiktoken", ".lock", ".incomplete", ".onnx_data", ".csv", ".ipynb")
MAX_WALK_DEPTH = 8


def walk_files(root: Path, max_depth: int = MAX_WALK_DEPTH) -> Iterator[Path]:
    """Files under ``root`` that may be models, in a stable order; hidden folders and symlinked folders skipped."""
    base_depth = len(root.parts)
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).parts) - base_depth
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < max_depth)
        for name in sorted(files):
            if not name.startswith(".") and not name.lower().endswith(_NOT_MODELS):
                yield Path(folder) / name


def split_parts(path: Path) -> list[Path] | None:
    """All parts of a split file (``x-00001-of-00003.gguf``) when ``path`` is one, else None.

    Raises :class:`ModelError` when a part is missing.
    """
    match = _SPLIT_RE.match(path.name)
    if match is None:
        return None
    count = int(match.group("count"))
    parts = [path.with_name(f"{match.group('stem')}-{i:05d}-of-{count:05d}{match.group('suffix')}")
             for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise ModelError(Reason.BAD_INPUT, f"{path.name} is part of a split model but {', '.join(missing)} "
                                           "is missing")
    return parts


def is_later_part(path: Path) -> bool:
    """True for part 2, 3, ... of a split file (the first part stands for the whole model)."""
    match = _SPLIT_RE.match(path.name)
    return match is not None and int(match.group("index")) != 1


def model_stem(path: Path) -> str:
    """The file name without its extension and split suffix, used to propose an id."""
    match = _SPLIT_RE.match(path.name)
    if match:
        return match.group("stem")
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem


def record_for(path: Path, detected: Detected, *, source: str, kind: str | None = None,
               repo: str | None = None, sha256: str | None = None, model_id: str | None = None,
               meta: dict[str, Any] | None = None) -> ModelRecord:
    """A record for a local model file (sizes of all parts of a split model added up)."""
    parts = split_parts(path) or [path]
    extra = {"parts": len(parts)} if len(parts) > 1 else {}
    return ModelRecord(
        id=model_id or model_stem(path), kind=kind or detected.kind, format=detected.format,
        path=str(path.absolute()), source=source, size_bytes=sum(p.stat().st_size for p in parts),
        sha256=sha256, quant=detected.quant, repo=repo, filename=path.name,
        meta={**detected.meta, **extra, **(meta or {})},
    )


def sha256_of(path: Path, *, on_progress: Callable[[int, int], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> str:
    """SHA-256 of a file, reporting (done, total) bytes and stopping when ``cancelled()`` turns true."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            if cancelled is not None and cancelled():
                raise ModelError(Reason.CANCELLED, f"hashing {path.name} cancelled")
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return digest.hexdigest()
