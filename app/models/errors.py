"""The one error type the model manager raises, with a reason a CLI or GUI can choose its words from."""

from __future__ import annotations

from enum import StrEnum

from app.errors import WorkbenchError


class Reason(StrEnum):
    """Why a model-manager operation failed."""

    BAD_INPUT = "bad_input"  # a bad path, file name, repository id or argument
    NOT_FOUND = "not_found"  # no such repository, revision, file or registered model
    AUTH = "auth"  # gated or private: a token is needed
    NETWORK = "network"  # the Hub could not be reached
    TIMEOUT = "timeout"  # the Hub stopped answering
    SERVER = "server"  # the Hub answered with an error
    CHECKSUM = "checksum"  # the downloaded bytes do not match the published SHA-256
    DISK_SPACE = "disk_space"  # not enough free disk (refused before starting, or the disk filled up)
    DAMAGED = "damaged"  # a file already in the cache no longer matches its published checksum
    CANCELLED = "cancelled"
    UNSUPPORTED = "unsupported"  # a valid file the workbench cannot use


class ModelError(WorkbenchError):
    """A model-manager failure a user can act on; ``reason`` says which kind."""

    def __init__(self, reason: Reason | str, message: str) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message


class CachedFileDamaged(ModelError):
    """A cached file that no longer matches its checksum; ``pointer`` is its snapshot path."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(Reason.DAMAGED, message)
        self.pointer = pointer
