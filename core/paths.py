"""Where the workbench keeps its files: ``WORKBENCH_HOME`` if set, else the user's data dir."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The workbench's data folder (created on first use)."""
    override = os.environ.get("WORKBENCH_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("local-ai-workbench", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    """The SQLite file holding runs, samples, conversations, comparisons and the model registry."""
    return home() / "workbench.db"


def cache_dir(name: str) -> Path:
    """A named cache folder (ONNX exports, assembled starter models, ...)."""
    path = home() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    """Folder for worker stderr logs."""
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
