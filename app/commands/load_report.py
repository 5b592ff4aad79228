"""Loading a model in a CLI command: on failure, one line on stderr that says which model and why."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


def load_or_report(engine: str, name: str, load: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The model info ``load()`` returns; None after printing why, when the engine refused or its worker died."""
    from app.errors import EngineDeadError, RequestFailed

    try:
        return load()
    except RequestFailed as exc:
        print(f"error: cannot load {name}: {exc.message}", file=sys.stderr)
    except EngineDeadError as exc:
        print(f"error: the {engine} worker died loading {name}: {exc.message}", file=sys.stderr)
    return None
