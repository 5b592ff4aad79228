"""ONNX Runtime with its telemetry off, so it writes nothing outside the workbench's data folder.

ONNX Runtime 1.32 starts its telemetry when the module is *imported*: it writes a device id and an event
queue (``deviceid``, ``onnxruntime.db``) under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and a
session file ``$TMPDIR/.ses``, and queues events for upload. The one switch that stops those files is the
environment variable ``ORT_DISABLE_TELEMETRY``, read at import; ``disable_telemetry_events()`` afterwards
only stops the events. So every process that may import onnxruntime sets the variable first (the worker
at start, the device probe, the in-process backends). A user who sets it to ``0`` keeps telemetry on.
"""

from __future__ import annotations

import os
from types import ModuleType

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def keep_telemetry_off() -> None:
    """Make a later ``import onnxruntime`` in this process (and its children) start without telemetry."""
    os.environ.setdefault(TELEMETRY_ENV, "1")


def import_onnxruntime() -> ModuleType:
    """``import onnxruntime`` with telemetry off (files and events)."""
    keep_telemetry_off()
    import onnxruntime

    if os.environ.get(TELEMETRY_ENV) != "0":
        onnxruntime.disable_telemetry_events()
    return onnxruntime
