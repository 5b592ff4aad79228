"""OpenAI's error shape (``{"error": {message, type, param, code}}``) and the status each failure gets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from app.recording import RunOutcome

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          413: "invalid_request_error", 500: "server_error", 503: "server_busy"}


class ApiError(Exception):
    """A failure to send as an OpenAI error with ``status``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body (also what a stream sends as its error event)."""
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        """The HTTP response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def outcome_error(outcome: RunOutcome) -> ApiError:
    """The API error for a request that did not end well (bad input 400, crash 500, anything else 500)."""
    status = outcome.status.value
    message = outcome.error or f"the request ended {status}"
    if status == "crashed":
        return ApiError(500, f"the model worker crashed: {message} (it restarts on the next request)",
                        code="worker_crashed")
    if status == "cancelled":
        return ApiError(500, "the request was cancelled", code="cancelled")
    if outcome.error_kind in ("bad_input", "unsupported"):
        code = "context_length_exceeded" if "context holds" in message else None
        return ApiError(400, message, code=code)
    if outcome.error_kind == "not_found":
        return ApiError(404, message, code="model_not_found")
    if outcome.error_kind == "out_of_memory":
        return ApiError(503, message, code="out_of_memory", headers={"Retry-After": "30"})
    return ApiError(500, message, code=outcome.error_kind)
