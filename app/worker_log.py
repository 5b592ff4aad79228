"""Where a worker's stderr goes: the data folder's ``logs``, or a private temporary file when that
folder cannot be written (read-only data folder), so a worker still starts and its crash output is kept.
"""

from __future__ import annotations

import os
import tempfile
import uuid

from core import paths


def worker_log_path(engine_id: str) -> str:
    """A new, empty log file for one worker of ``engine_id``."""
    name = f"worker-{engine_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
    try:
        path = paths.logs_dir() / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        fd, temp = tempfile.mkstemp(prefix=name.removesuffix(".log") + "-", suffix=".log")
        os.close(fd)
        return temp
    os.close(fd)
    return str(path)
