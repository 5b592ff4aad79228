"""Health, the model list, and the small JSON APIs of the vision and Bayes engines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.context import ServerContext, json_body
from server.llm_routes import _call
from server.openai_params import bad

MAX_TOPK = 100


def _list_models(loaded_ids: set[str]) -> list[dict[str, Any]]:
    from app.models.registry import Registry

    with Registry() as registry:
        records = registry.list()
    # Starter models are assembled on first use: listing them must not resolve (and so build) them.
    return [{"id": r.id, "object": "model", "created": int(r.added_at or 0), "owned_by": "workbench",
             "kind": r.kind, "format": r.format, "loaded": r.id in loaded_ids} for r in records]


def _registered_at(paths: set[str]) -> list[Any]:
    from app.models.registry import Registry

    with Registry() as registry:
        return [r for r in (registry.find_by_path(p) for p in paths) if r is not None]


def router(ctx: ServerContext) -> APIRouter:
    """Health, models, classify and Bayes routes bound to ``ctx``."""
    api = APIRouter()

    @api.get("/health")
    async def health() -> Response:
        slots = ctx.service.slots()
        return JSONResponse({"status": "ok", "models_loaded": sum(s.state == "ready" for s in slots),
                             "requests_in_flight": len(ctx.activity.live()), "time": time.time()})

    @api.get("/v1/models")
    async def models() -> Response:
        paths = {s.key.model for s in ctx.service.slots() if s.state == "ready"}
        loaded = {model for model, path in ctx.resolved.items() if path in paths}
        loaded |= {r.id for r in await asyncio.to_thread(_registered_at, paths)}
        return JSONResponse({"object": "list", "data": await asyncio.to_thread(_list_models, loaded)})

    @api.post("/v1/classify")
    async def classify(request: Request) -> Response:
        model = request.query_params.get("model") or "efficientnet-lite0"
        try:
            topk = int(request.query_params.get("top_k", "5"))
        except ValueError:
            raise bad("top_k must be a whole number", "top_k") from None
        if not 1 <= topk <= MAX_TOPK:
            raise bad(f"top_k must be within 1..{MAX_TOPK}", "top_k")
        data = await request.body()
        if not data:
            raise bad("send the image file's bytes as the request body", "body")
        path = await ctx.resolve(model, "vision")
        handle, image = tempfile.mkstemp(prefix="workbench-api-", suffix=".img")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            result = await _call(ctx, request, path, model, "classify", {"paths": [image], "topk": topk},
                                 options={}, engine="vision")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(image)
        result.pop("series", None)
        if not result.get("classified") and result.get("failed"):
            errors = result.get("errors") or [{}]
            reason = str(errors[0].get("error") or errors[0].get("message") or errors[0]).replace(image, "body")
            raise bad(f"the body is not an image the model can read: {reason}", "body")
        return JSONResponse({"model": model, **result})

    @api.post("/v1/bayes/query")
    async def bayes(request: Request) -> Response:
        body = await json_body(request)
        network = body.get("network") or body.get("model") or "alarm"
        if not isinstance(network, str):
            raise bad("'network' must be a network name or file", "network")
        path = await ctx.resolve(network, "bayes")
        fields = ("evidence", "soft_evidence", "targets", "method", "samples", "seed")
        params: dict[str, Any] = {k: body[k] for k in fields if k in body}
        result = await _call(ctx, request, path, network, "query", params, options={}, engine="bayes")
        result.pop("series", None)
        return JSONResponse({"network": network, **result})

    return api
