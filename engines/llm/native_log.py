"""Capture llama.cpp's log: recent lines explain a failed load; warnings reach the worker's log file."""

from __future__ import annotations

import collections
import os
import threading
from typing import Any

# enum ggml_log_level (ggml.h): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the last line).
_GGML_INFO = 2
_GGML_WARN = 3
_GGML_ERROR = 4
_GGML_CONT = 5


class NativeLog:
    """Installs a llama.cpp log callback that keeps the last lines and copies warnings to stderr."""

    def __init__(self, keep: int = 200) -> None:
        self.lines: collections.deque[tuple[int, str]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._last_level = 0
        self._callback: Any = None
        # llama-cpp-python points fd 2 at /dev/null while loading (verbose=False): write through a copy
        # of the original fd so a crash during load still leaves its last words in the worker log.
        try:
            self._fd: int | None = os.dup(2)
        except OSError:
            self._fd = None

    def install(self) -> None:
        """Route llama.cpp's log here (process-wide; the last installer wins)."""
        import ctypes

        import llama_cpp

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def callback(level: int, text: bytes, user_data: Any) -> None:
            self._on_log(level, text)

        self._callback = callback  # ctypes callbacks must outlive their registration
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    def _on_log(self, level: int, text: bytes) -> None:
        decoded = text.decode("utf-8", "replace")
        effective = self._last_level if level == _GGML_CONT else level
        self._last_level = effective
        if effective < _GGML_INFO:
            return
        with self._lock:
            self.lines.append((effective, decoded))
        if effective >= _GGML_WARN and self._fd is not None:
            try:
                os.write(self._fd, text)
            except OSError:
                pass

    def clear(self) -> None:
        """Forget earlier lines, so :meth:`since` reports only what follows."""
        with self._lock:
            self.lines.clear()

    def since(self, min_level: int = _GGML_WARN) -> str:
        """Warning and error text logged since the last :meth:`clear`."""
        with self._lock:
            return "".join(text for level, text in self.lines if level >= min_level).strip()



_shared: NativeLog | None = None
_shared_lock = threading.Lock()


def shared_log() -> NativeLog:
    """The process's one llama.cpp log capture, installed on first use and kept for the process's life.

    llama.cpp keeps the callback pointer globally, so the callback (and this object) must never be freed.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = NativeLog()
            _shared.install()
        return _shared
