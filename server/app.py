"""The FastAPI application: routes, OpenAI-shaped errors, the key and size guard, CORS when asked."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from app.service import ModelService
from server import llm_routes, other_routes
from server.activity import Activity
from server.config import ServerConfig
from server.context import ServerContext
from server.errors import ApiError
from server.security import Guard


def create_app(service: ModelService, config: ServerConfig, activity: Activity | None = None) -> FastAPI:
    """An ASGI app serving ``service`` (the caller owns the service and closes it)."""
    ctx = ServerContext(service, config, activity or Activity())
    app = FastAPI(title="Local AI Workbench", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.include_router(llm_routes.router(ctx))
    app.include_router(other_routes.router(ctx))

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        return ApiError(400, f"bad request: {exc.errors()}").response()

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        return ApiError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(Exception)
    async def crash(_request: Request, exc: Exception) -> Response:
        return ApiError(500, f"internal error: {type(exc).__name__}: {exc}").response()

    app.add_middleware(Guard, api_key=config.api_key, max_body_bytes=config.max_body_bytes)
    if config.cors_origins:  # added last, so outermost: a 401 still carries the CORS headers
        # Bearer keys travel in a header, not cookies: credentials stay off, so '*' is never paired with them.
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"])
    return app
