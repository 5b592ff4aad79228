"""What every endpoint needs: the service, the config, the activity log, and submitting a request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from app.model_refs import UnknownModel, resolve_for_load
from app.service import ModelService
from server.activity import Activity
from server.bridge import TicketStream
from server.config import ServerConfig
from server.errors import ApiError


@dataclass
class ServerContext:
    """Shared by the routes of one server."""

    service: ModelService
    config: ServerConfig
    activity: Activity = field(default_factory=Activity)
    resolved: dict[str, str] = field(default_factory=dict)  # model id -> the path it was loaded from

    async def resolve(self, model: str, kind: str) -> str:
        """The path (or engine name) a worker loads for ``model``; unknown -> 404."""
        try:
            path = await asyncio.to_thread(resolve_for_load, model, kind)
        except UnknownModel as exc:
            raise ApiError(404, f"The model '{model}' does not exist: {exc}", param="model",
                           code="model_not_found") from exc
        self.resolved[model] = path
        return path

    def submit(self, request: Request, engine: str, path: str, op: str, params: Mapping[str, Any], *,
               model_id: str, options: Mapping[str, Any] | None = None) -> TicketStream:
        """Queue ``op`` as a recorded run tagged with the API and the client's address (503 when full)."""
        if options is None:
            options = self.config.llm_options if engine == "llm" else {}
        return TicketStream(self.service, engine, path, op, params, device=self.config.device, options=options,
                            threads=self.config.threads, model_id=model_id,
                            tags=("api", f"client:{client_address(request)}", f"endpoint:{request.url.path}"))


def client_address(request: Request) -> str:
    """host:port of the caller."""
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else "unknown"


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object body, or a 400."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body
