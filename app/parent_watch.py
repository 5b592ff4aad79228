"""A worker's watch on its app: exit promptly when the parent process is gone, even mid engine call.

The worker's pipe reader sees EOF at once when the parent dies; this poll is the backstop for a pipe
held open by another process, and works the same inside a long native call (llama.cpp prompt
evaluation, an ONNX Runtime session) because it runs on its own thread. ``PR_SET_PDEATHSIG`` is not
used: Linux sends it when the *thread* that started the worker ends, and the GUI starts workers from
short-lived background threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from app import process_identity

POLL_S = 0.5


def start_parent_watch(on_gone: Callable[[str], None], poll_s: float = POLL_S) -> threading.Thread:
    """Call ``on_gone(reason)`` from a daemon thread once the process that started this one has ended."""
    parent = os.getppid()
    started = process_identity.start_time(parent)

    def watch() -> None:
        while True:
            # Re-parenting (to init or a subreaper) shows first on POSIX; the start time catches a PID
            # reused by another process, and is the only sign on Windows.
            if os.getppid() != parent or not process_identity.is_running(parent, started):
                on_gone(f"the app (process {parent}) is gone")
                return
            time.sleep(poll_s)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
