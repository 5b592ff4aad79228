"""How much traffic this client can time faithfully, and the warning when a run came near it.

The figures are measured by ``bench/serve_client.py`` against the scripted SSE server (fixed TTFT and
gaps): the highest chunk rate and request rate at which the client added < 1 ms to the TTFT it reported.
``bench/serve_client.py --save`` writes this machine's figures to the workbench folder, which wins over
the defaults below (the 2-vCPU development VM's, see bench/RESULTS.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.paths import home

NEAR = 0.7  # warn at 70 % of the measured limit
LOOP_LAG_LIMIT_MS = 1.0  # an event loop late by more than this adds that much to every timestamp


@dataclass(frozen=True)
class ClientCapacity:
    """The highest chunk and request rates at which the client adds < 1 ms to TTFT."""

    chunks_per_s: float
    requests_per_s: float
    source: str


# Measured on the shared 2-vCPU development VM at load average 8 (bench/RESULTS.md): conservative; a
# machine's own figures (bench/serve_client.py --save) replace them.
DEFAULT = ClientCapacity(chunks_per_s=184.0, requests_per_s=38.6,
                         source="bench/serve_client.py on the 2-vCPU development VM, load 8 (bench/RESULTS.md)")


def capacity_file() -> Path:
    """Where ``bench/serve_client.py --save`` keeps this machine's figures."""
    return home() / "serve_client_capacity.json"


def client_capacity() -> ClientCapacity:
    """This machine's measured capacity if saved, else the development VM's."""
    try:
        data = json.loads(capacity_file().read_text())
        return ClientCapacity(float(data["chunks_per_s"]), float(data["requests_per_s"]), str(data["source"]))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT


def capacity_warnings(peak_chunks_per_s: float, request_throughput: float, loop_lag_p99_ms: float,
                      capacity: ClientCapacity) -> list[str]:
    """Warnings for a run whose traffic came near what the client can time (empty when it did not)."""
    out = []
    if peak_chunks_per_s >= NEAR * capacity.chunks_per_s:
        out.append(f"peak {peak_chunks_per_s:.0f} chunks/s is {peak_chunks_per_s / capacity.chunks_per_s:.0%} of "
                   f"the {capacity.chunks_per_s:.0f} chunks/s this client times within 1 ms; TTFT/ITL may "
                   "include client delay")
    if request_throughput >= NEAR * capacity.requests_per_s:
        out.append(f"{request_throughput:.1f} req/s is {request_throughput / capacity.requests_per_s:.0%} of the "
                   f"{capacity.requests_per_s:.0f} req/s this client sustains within 1 ms")
    if loop_lag_p99_ms > LOOP_LAG_LIMIT_MS:
        out.append(f"the client's event loop ran {loop_lag_p99_ms:.1f} ms late (p99) during the run: its own "
                   "load (or other processes on this machine) delayed the timestamps")
    return out
