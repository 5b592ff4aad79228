"""Plain rows for the Server page's tables (no Qt: tested on their own)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from server.activity import RequestInfo

SLOT_COLUMNS = ("Model", "Engine", "Device", "State", "Queued", "Running", "Memory", "Idle")
LIVE_COLUMNS = ("#", "Client", "Endpoint", "Model", "State", "Tokens", "TTFT", "Age")
LOG_COLUMNS = ("Time", "Client", "Endpoint", "Model", "Status", "Tokens", "TTFT", "E2EL")


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def slot_row(slot: Any) -> list[str]:
    """One loaded (or loading) model: ``app.service.model_service.SlotState``."""
    name = Path(slot.key.model).name if "/" in slot.key.model else slot.key.model
    memory = f"{slot.memory_bytes / 2**20:.0f} MiB" if slot.memory_bytes else ""
    return [name, slot.key.engine, slot.key.device, slot.state, str(slot.queued), str(slot.running), memory,
            f"{slot.idle_s:.0f} s"]


def live_row(info: RequestInfo, now: float | None = None) -> list[str]:
    """A request in flight."""
    age = (now if now is not None else time.time()) - info.started
    return [str(info.id), info.client, info.endpoint, info.model, info.state, str(info.tokens), _ms(info.ttft_ms),
            f"{age:.1f} s"]


def log_row(info: RequestInfo) -> list[str]:
    """A finished request (499: the client went away)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(info.started))
    return [stamp, info.client, info.endpoint, info.model, str(info.status), str(info.tokens), _ms(info.ttft_ms),
            _ms(info.e2el_ms)]


def summary(address: str | None, tokens_per_s: float, live: Sequence[RequestInfo], total: int) -> str:
    """The line under the controls."""
    if address is None:
        return "Stopped. Start the server to let editors, agents and scripts use the models over the OpenAI API."
    queued = sum(r.state == "queued" for r in live)
    return (f"Serving {address}/v1 · {tokens_per_s:.1f} tok/s · {len(live) - queued} running, {queued} queued · "
            f"{total} requests")
