"""The model a command uses when the user names none: the last one used, else the engine's default.

Like LM Studio's chat (and unlike ``ollama run``), ``workbench chat "question"`` just answers: with the
model of the last recorded run of that engine and op that still resolves, else the ``default_model`` its
``EngineSpec`` declares (a starter model, shipped in a PyPI package).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.history import History

# Recent runs looked at for the last used model; older ones are not "last used" any more.
_RECENT_RUNS = 200
# A run the user stopped still used its model; a failed or crashed one may not have loaded it.
_USED = ("ok", "cancelled")


def spec_default(engine_id: str) -> str:
    """The default model id the engine's spec declares; KeyError when the engine declares none."""
    from app.discovery import get_spec

    model = get_spec(engine_id).default_model
    if not model:
        raise KeyError(f"engine {engine_id!r} declares no default model")
    return model


def _candidates(run: Mapping[str, Any]) -> Iterator[str]:
    # A model named by id is kept by id (it survives a re-download); one opened from a file is stored under
    # its file name, so its recorded path is what still opens it.
    if run.get("model_id"):
        yield str(run["model_id"])
    if run.get("model_path"):
        yield str(run["model_path"])


def _opens(ref: str, engine_id: str) -> bool:
    from app.discovery import get_spec
    from app.model_refs import UnknownModel, resolve_model_ref
    from app.starter_models import starter

    spec = get_spec(engine_id)
    try:
        resolve_model_ref(ref, spec.kind.value)
    except UnknownModel:
        # A starter the engine finds itself (the Bayes engine's shipped networks), not a packaged file.
        return ref in spec.starter_models and starter(ref) is None
    except (OSError, ValueError):
        return False
    return True


def last_used_model(engine_id: str, op: str | None, history: History) -> str | None:
    """The model of the newest finished run of ``engine_id`` (and ``op``) that still resolves.

    Comparison runs are left out: the model a comparison measured is not the one the user chose to use.
    """
    seen: set[str] = set()
    for run in history.runs(engine=engine_id, limit=_RECENT_RUNS):
        if run.get("compare_id") or (op is not None and run.get("op") != op) or run.get("status") not in _USED:
            continue
        for ref in _candidates(run):
            if ref not in seen:
                seen.add(ref)
                if _opens(ref, engine_id):
                    return ref
    return None


def default_model(engine_id: str, op: str | None = None, history: History | None = None) -> str:
    """The model to use when none was named: the last used one (of that op), else the spec's default.

    ``history`` is opened read-only (and closed again) when not given; an unreadable history only means
    there is no last used model.
    """
    from app.history import History, HistoryUnavailable

    if history is not None:
        return last_used_model(engine_id, op, history) or spec_default(engine_id)
    try:
        opened = History(read_only=True)
    except (HistoryUnavailable, OSError):
        return spec_default(engine_id)
    try:
        return last_used_model(engine_id, op, opened) or spec_default(engine_id)
    finally:
        opened.close()
