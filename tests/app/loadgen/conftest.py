"""A scripted SSE server on 127.0.0.1 for the load generator's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.loadgen.scripted_server import Script, ScriptedServer


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    """``scripted(ttft_s=..., gap_s=..., ...)`` starts a server with that script; all stop after the test."""
    servers: list[ScriptedServer] = []

    def start(**script: object) -> ScriptedServer:
        server = ScriptedServer(Script(**script)).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
