"""Test-wide setup: an isolated WORKBENCH_HOME, offscreen Qt, and a check for leaked workers/threads."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Before anything imports the app: never touch the real user data folder from tests.
_HOME = tempfile.mkdtemp(prefix="workbench-test-home-")
os.environ["WORKBENCH_HOME"] = _HOME
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "0")


def _children() -> set[int]:
    # Spawning a worker starts multiprocessing's resource tracker once per process; it is not a leak.
    from multiprocessing import resource_tracker

    import psutil

    resource_tracker.ensure_running()

    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pytest.fixture(autouse=True, scope="module")
def _no_leaked_workers() -> Iterator[None]:
    """Fail a test module that leaves a worker process or a thread running after its fixtures are gone."""
    before_children, before_threads = _children(), _threads()
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leaked_children = _children() - before_children
        leaked_threads = {t for t in _threads() - before_threads
                          if not t.name.startswith(("pydevd", "QDBus", "asyncio_", "ThreadPoolExecutor",
                                                    "Dummy"))}
        if not leaked_children and not leaked_threads:
            return
        time.sleep(0.1)
    pytest.fail(f"left running: processes {sorted(leaked_children)}, threads {sorted(t.name for t in leaked_threads)}")


@pytest.fixture
def history_path(tmp_path: os.PathLike[str]) -> str:
    """A fresh history database file."""
    return os.path.join(tmp_path, "history.db")


@pytest.fixture
def history(history_path: str) -> Iterator[Any]:
    """An open History on a fresh database file, closed after the test."""
    from app.history import History  # after WORKBENCH_HOME is set above

    store = History(history_path)
    yield store
    store.close()
