"""Running one LLM generation for an endpoint: queue, wait or stream, disconnect -> cancel, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.messages import Partial
from app.service import Finished, Loaded
from server.bridge import TicketStream, watch_disconnect
from server.context import ServerContext, client_address
from server.errors import ApiError, outcome_error
from server.openai_params import completion_tokens


class Shaper(Protocol):
    """Turns engine output into one endpoint's OpenAI objects."""

    def full(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The non-streamed response."""

    def first(self) -> list[dict[str, Any]]:
        """Chunks sent before the first token (chat's role chunk)."""

    def chunk(self, text: str, logprobs: list[Mapping[str, Any]]) -> dict[str, Any]:
        """A chunk with new text."""

    def last(self, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The closing chunk(s): finish reason, then usage when asked."""


async def run_generation(ctx: ServerContext, request: Request, *, op: str, path: str, model_id: str,
                         params: dict[str, Any], stream: bool, shaper: Shaper) -> Response:
    """Submit and answer: JSON when not streaming, SSE chunks ending in ``data: [DONE]`` when streaming."""
    params = {**params, "stream": stream}
    activity = ctx.activity
    request_id = activity.begin(client_address(request), request.url.path, model_id)
    try:
        ticket = ctx.submit(request, "llm", path, op, params, model_id=model_id)
    except ApiError as exc:
        activity.end(request_id, exc.status)
        raise
    activity.attach(request_id, ticket.ticket)
    if not stream:
        return await _whole(ctx, request, ticket, request_id, shaper)
    first = await _first_output(ticket, lambda: activity.running(request_id))
    if isinstance(first, Finished) and not first.outcome.ok:
        # Failed before any output (unknown option, prompt too long, crash while loading): a real status.
        error = outcome_error(first.outcome)
        activity.end(request_id, error.status, run_id=first.outcome.run_id)
        return error.response()
    return EventSourceResponse(_chunks(ctx, ticket, request_id, first, shaper), ping=15)


async def _whole(ctx: ServerContext, request: Request, ticket: TicketStream, request_id: int,
                 shaper: Shaper) -> Response:
    watcher = asyncio.create_task(watch_disconnect(request.is_disconnected, ticket))
    try:
        finished = None
        async for event in ticket.events():
            if isinstance(event, Loaded):
                ctx.activity.running(request_id)
            elif isinstance(event, Finished):
                finished = event
    finally:
        watcher.cancel()
        if not ticket.finished:
            ticket.cancel()
    assert finished is not None
    outcome = finished.outcome
    if not outcome.ok or outcome.result is None:
        error = outcome_error(outcome)
        ctx.activity.end(request_id, error.status, run_id=outcome.run_id)
        return error.response()
    result = outcome.result
    status = 499 if ticket.ticket.cancelled else 200  # the client went away: nobody reads this answer
    ctx.activity.end(request_id, status, tokens=completion_tokens(result), run_id=outcome.run_id,
                     ttft_ms=outcome.metrics.get("ttft_ms"))
    return JSONResponse(shaper.full(result))


async def _first_output(ticket: TicketStream, on_running: Callable[[], None]) -> Partial | Finished:
    async for event in ticket.events():
        if isinstance(event, Loaded):
            on_running()
        if isinstance(event, Partial | Finished):
            return event
    raise AssertionError("a ticket's events end with Finished")


async def _chunks(ctx: ServerContext, ticket: TicketStream, request_id: int, first: Partial | Finished,
                  shaper: Shaper) -> AsyncIterator[dict[str, str]]:
    status = 200
    run_id = ""
    try:
        for chunk in shaper.first():
            yield {"data": json.dumps(chunk)}
        event: Any = first
        pending: list[Mapping[str, Any]] = []
        n = 0
        while True:
            if isinstance(event, Partial):
                n += 1
                ctx.activity.token(request_id, first=n == 1)
                if "logprob" in event.data:
                    pending.append(event.data["logprob"])
                text = str(event.data.get("text", ""))
                if text:
                    yield {"data": json.dumps(shaper.chunk(text, pending))}
                    pending = []
            elif isinstance(event, Finished):
                outcome = event.outcome
                run_id = outcome.run_id
                if outcome.ok and outcome.result is not None:
                    for chunk in shaper.last(outcome.result):
                        yield {"data": json.dumps(chunk)}
                    yield {"data": "[DONE]"}
                else:
                    # Headers are gone: the failure travels as an error event (OpenAI's clients raise it).
                    error = outcome_error(outcome)
                    status = error.status
                    yield {"data": json.dumps(error.body())}
                return
            event = await ticket.next()
    except (asyncio.CancelledError, GeneratorExit):
        status = 499  # the client went away: nginx's code for it, shown in the request log
        raise
    finally:
        if not ticket.finished:
            ticket.cancel()
        with contextlib.suppress(Exception):
            ctx.activity.end(request_id, status, run_id=run_id)
