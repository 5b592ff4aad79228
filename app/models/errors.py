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
    DISK_SPACE = "disk_space"  # refused before starting: not enough free disk
    CANCELLED = "cancelled"
    UNSUPPORTED = "unsupported"  # a valid file the workbench cannot use


class ModelError(WorkbenchError):
    """A model-manager failure a user can act on; ``reason`` says which kind."""

    def __init__(self, reason: Reason | str, message: str) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message
