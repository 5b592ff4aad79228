"""The error an engine (or a bottom-layer reader) raises for a user to act on, and its kinds."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a request failed; the GUI and CLI choose their wording from it."""

    BAD_INPUT = "bad_input"  # the file, evidence or parameter the user gave is wrong
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"  # valid input this engine/device cannot handle
    OUT_OF_MEMORY = "out_of_memory"  # refused up front or failed allocating
    DEVICE = "device"  # the chosen device is missing or failed
    CANCELLED = "cancelled"
    INTERNAL = "internal"  # a bug: the message carries the traceback


class EngineError(Exception):
    """An error a user can understand and act on, raised by engines and turned into a ``Failed`` event."""

    def __init__(self, kind: ErrorKind | str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.detail = detail
