"""What the server is doing, for the Server page: requests in flight, a request log, system tokens/s."""

from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

_ids = itertools.count(1)
LOG_SIZE = 500
RATE_WINDOW_S = 5.0


@dataclass(frozen=True)
class RequestInfo:
    """One request as the page shows it."""

    id: int
    client: str
    endpoint: str
    model: str
    started: float  # time.time()
    state: str = "queued"  # queued | running | done
    tokens: int = 0
    ttft_ms: float | None = None
    e2el_ms: float | None = None
    status: int | None = None  # the HTTP status it ended with
    run_id: str = ""


class Activity:
    """Thread-safe: the server's threads write, the GUI reads snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, RequestInfo] = {}
        self._log: collections.deque[RequestInfo] = collections.deque(maxlen=LOG_SIZE)
        self._token_times: collections.deque[float] = collections.deque()
        self._tickets: dict[int, Any] = {}  # request id -> its app.service Ticket (for its live state)
        self.total = 0

    def begin(self, client: str, endpoint: str, model: str) -> int:
        """A request arrived; returns its id."""
        info = RequestInfo(next(_ids), client, endpoint, model, time.time())
        with self._lock:
            self._live[info.id] = info
            self.total += 1
        return info.id

    def attach(self, request: int, ticket: Any) -> None:
        """The service ticket serving ``request``: its state (queued, loading, running) is shown live."""
        with self._lock:
            if request in self._live:
                self._tickets[request] = ticket

    def token(self, request: int, *, first: bool) -> None:
        """One generated token of ``request`` (the first sets its TTFT)."""
        now = time.monotonic()
        with self._lock:
            info = self._live.get(request)
            if info is None:
                return
            ttft = (time.time() - info.started) * 1000 if first and info.ttft_ms is None else info.ttft_ms
            self._live[request] = replace(info, state="running", tokens=info.tokens + 1, ttft_ms=ttft)
            self._token_times.append(now)

    def running(self, request: int) -> None:
        """The request left the queue."""
        with self._lock:
            info = self._live.get(request)
            if info is not None and info.state == "queued":
                self._live[request] = replace(info, state="running")

    def end(self, request: int, status: int, *, tokens: int | None = None, run_id: str = "",
            ttft_ms: float | None = None) -> None:
        """The request is over with HTTP ``status``; a whole (not streamed) answer brings its token count
        and the engine's TTFT, and its tokens count towards tokens/s now."""
        now = time.monotonic()
        with self._lock:
            info = self._live.pop(request, None)
            self._tickets.pop(request, None)
            if info is None:
                return
            if tokens is not None and info.tokens == 0:
                self._token_times.extend([now] * tokens)
            done = replace(info, state="done", status=status, run_id=run_id,
                           tokens=info.tokens if tokens is None else tokens,
                           ttft_ms=info.ttft_ms if info.ttft_ms is not None else ttft_ms,
                           e2el_ms=(time.time() - info.started) * 1000)
            self._log.append(done)

    def live(self) -> list[RequestInfo]:
        """Requests queued or running, oldest first."""
        with self._lock:
            live = sorted(self._live.values(), key=lambda r: r.id)
            tickets = dict(self._tickets)
        out = []
        for info in live:
            state = getattr(tickets.get(info.id), "state", info.state)
            out.append(replace(info, state=state) if state not in (info.state, "done") else info)
        return out

    def log(self) -> list[RequestInfo]:
        """Finished requests, newest last."""
        with self._lock:
            return list(self._log)

    def tokens_per_s(self) -> float:
        """Output tokens per second over all requests in the last few seconds."""
        now = time.monotonic()
        with self._lock:
            while self._token_times and now - self._token_times[0] > RATE_WINDOW_S:
                self._token_times.popleft()
            return len(self._token_times) / RATE_WINDOW_S
