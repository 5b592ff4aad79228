"""Keep the GUI fast: import pyqtgraph without optional extras the app never uses.

pyqtgraph imports the CUDA Python bindings when they are installed (torch's CUDA build brings them), only
for CUDA/OpenGL interop in RawImageWidget: about 0.6 s on a small machine, for nothing this app draws.
(``app.history`` hides pandas from sqlite_utils the same way.)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def optional_modules_hidden(*names: str) -> Iterator[None]:
    """While active, ``import NAME`` raises ImportError for the given modules not imported yet."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable" marker
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def import_pyqtgraph() -> ModuleType:
    """pyqtgraph without the CUDA Python bindings (its CUDA/OpenGL image path is never used here)."""
    if "pyqtgraph" in sys.modules:
        return sys.modules["pyqtgraph"]
    with optional_modules_hidden("cuda.bindings", "cupy", "numba"):
        return importlib.import_module("pyqtgraph")
