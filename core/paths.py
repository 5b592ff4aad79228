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
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = f"WORKBENCH_HOME={override}" if override else f"the data folder {path}"
        raise DataFolderError(exc.errno, f"{where} cannot be used as the data folder "
                              f"({exc.strerror or exc}); point WORKBENCH_HOME at a folder") from exc
    return path


class DataFolderError(OSError):
    """The data folder cannot be created (``WORKBENCH_HOME`` names a file, a read-only place, ...)."""

    def __str__(self) -> str:
        return str(self.strerror)


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
