"""From a service ticket (events on the service's threads) to an asyncio queue the endpoint awaits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from app.service import Finished, ModelService, ServiceBusy, Ticket
from server.errors import ApiError

if TYPE_CHECKING:
    from app.service.tickets import TicketEvent


class TicketStream:
    """A submitted request whose events arrive on an asyncio queue; ``cancel()`` on disconnect."""

    def __init__(self, service: ModelService, engine: str, model: str, op: str, params: Mapping[str, Any], *,
                 device: str, options: Mapping[str, Any], threads: int | None, model_id: str,
                 tags: tuple[str, ...]) -> None:
        loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[TicketEvent] = asyncio.Queue()
        # Set when Finished reaches this side: the ticket's own flag is set on the service thread a moment
        # *after* listeners ran, so reading it here could cancel a request that has already finished.
        self.finished = False

        def forward(event: TicketEvent) -> None:
            # Called on a service thread; a closed loop (server stopping) just drops the event.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._queue.put_nowait, event)

        try:
            self.ticket: Ticket = service.submit(engine, model, op, params, device=device, options=options,
                                                 threads=threads, model_id=model_id, tags=tags,
                                                 on_event=forward)
        except ServiceBusy as exc:
            raise ApiError(503, str(exc), code="queue_full", headers={"Retry-After": "5"}) from exc

    async def events(self) -> AsyncIterator[TicketEvent]:
        """Every event up to and including :class:`Finished`."""
        while True:
            event = await self.next()
            yield event
            if isinstance(event, Finished):
                return

    async def next(self) -> TicketEvent:
        """The next event."""
        event = await self._queue.get()
        if isinstance(event, Finished):
            self.finished = True
        return event

    def cancel(self) -> None:
        """Stop the request (queued: dropped; running: stopped between tokens); nothing once it finished."""
        if not self.finished:
            self.ticket.cancel()


async def watch_disconnect(is_disconnected: Callable[[], Any], stream: TicketStream, period: float = 0.25) -> None:
    """Cancel ``stream`` when the client goes away (run as a task beside a non-streamed request)."""
    while not stream.finished:
        if await is_disconnected():
            stream.cancel()
            return
        await asyncio.sleep(period)
