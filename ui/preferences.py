"""The QSettings keys pages share, and readers for them (Settings writes them, pages read them)."""

from __future__ import annotations

from typing import Any

THREADS_KEY = "engines/threads"  # 0: the engine default (physical cores measured, 1 on small VMs)
ENDPOINT_KEY = "models/hub_endpoint"  # a Hub mirror (or the tests' loopback Hub); empty: huggingface_hub's
CACHE_KEY = "models/cache_dir"  # where downloads go; empty: the standard Hugging Face cache


def engine_threads(settings: Any) -> int | None:
    """The thread count chosen for engine workers; None means the engine default."""
    try:
        value = int(settings.value(THREADS_KEY, 0) or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def text_setting(settings: Any, key: str) -> str | None:
    """A string setting, None when empty or unset."""
    value = settings.value(key, "")
    return str(value).strip() or None if value is not None else None


def restore_splitter(splitter: Any, settings: Any, key: str, default_sizes: list[int]) -> None:
    """Give ``splitter`` the sizes saved under ``key`` (see ``saveState``), or ``default_sizes`` the first time."""
    from PySide6.QtCore import QByteArray

    state = settings.value(key)
    if not (isinstance(state, QByteArray) and splitter.restoreState(state)):
        splitter.setSizes(default_sizes)
