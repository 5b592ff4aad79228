"""Soak the local server: N mixed requests (whole, streamed, cancelled mid-stream) on loopback, then check
that each is exactly one history row and that the model worker's RSS stayed flat.

    python bench/soak.py [--requests 1000] [--concurrency 2]

Starts its own server (127.0.0.1, port 0) over SmolLM2-135M with a throwaway history; prints a summary
and exits non-zero when a request was lost or duplicated, an unexpected error happened, or RSS grew more
than 32 MiB after warm-up.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from app.history import History

MODEL = "smollm2-135m-instruct"
KINDS = ("whole", "stream", "cancelled")


@dataclass
class SoakReport:
    """What the soak saw."""

    sent: int = 0
    seconds: float = 0.0
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    rss_warm_bytes: int = 0
    rss_end_bytes: int = 0

    @property
    def rss_growth_bytes(self) -> int:
        """RSS at the end minus RSS after warm-up."""
        return self.rss_end_bytes - self.rss_warm_bytes


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _one(http: httpx.Client, base_url: str, index: int) -> tuple[str, str | None]:
    kind = KINDS[index % len(KINDS)]  # whole or stream here; cancelled ones go to _one_cancelled_early
    body: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": f"soak {index}: hi"}],
                               "max_tokens": 2, "temperature": 0}
    if kind == "whole":
        response = http.post(f"{base_url}/chat/completions", json=body)
        ok = response.status_code == 200 and response.json()["usage"]["completion_tokens"] >= 1
        return kind, None if ok else f"{index}: {response.status_code} {response.text[:200]}"
    body.update(stream=True)
    with http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        if response.status_code != 200:
            return kind, f"{index}: {response.status_code}"
        lines = [line for line in response.iter_lines() if line]
    return kind, None if lines and lines[-1] == "data: [DONE]" else f"{index}: no [DONE]"


def _one_cancelled_early(http: httpx.Client, base_url: str, index: int) -> tuple[str, str | None]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"soak {index}: hi"}], "max_tokens": 48,
            "ignore_eos": True, "temperature": 0, "stream": True}
    with http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        if response.status_code != 200:
            return "cancelled", f"{index}: {response.status_code}"
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # one chunk, then hang up: the server must cancel the request
    return "cancelled", None


def run_soak(base_url: str, history: History, requests: int, *, concurrency: int = 2,
             worker_rss: Callable[[], int] | None = None, settle_s: float = 60.0,
             progress: bool = False) -> SoakReport:
    """Send ``requests`` mixed requests with ``concurrency`` clients; check the history afterwards."""
    report = SoakReport()
    warm_at = max(1, requests // 10)
    lock = threading.Lock()
    t0 = time.perf_counter()

    def send(index: int) -> None:
        with httpx.Client(timeout=120) as http:  # a fresh connection each time, as scripts do
            if KINDS[index % len(KINDS)] == "cancelled":
                kind, error = _one_cancelled_early(http, base_url, index)
            else:
                kind, error = _one(http, base_url, index)
        with lock:
            report.sent += 1
            report.kinds[kind] += 1
            if error:
                report.errors.append(error)
            if report.sent == warm_at and worker_rss is not None:
                report.rss_warm_bytes = worker_rss()
            if progress and report.sent % 100 == 0:
                rss = f", worker RSS {worker_rss() / 2**20:.1f} MiB" if worker_rss is not None else ""
                print(f"  {report.sent} sent after {time.perf_counter() - t0:.0f} s{rss}", flush=True)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(requests)))
    report.seconds = time.perf_counter() - t0
    deadline = time.monotonic() + settle_s
    while True:  # cancelled runs are written when the worker stops them, a moment after the hang-up
        counts = _rows_per_request(history, requests)
        if all(counts[i] >= 1 for i in range(requests)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    report.lost = [i for i in range(requests) if counts[i] == 0]
    report.duplicated = [i for i in range(requests) if counts[i] > 1]
    if worker_rss is not None:
        report.rss_end_bytes = worker_rss()
    return report


def _rows_per_request(history: History, requests: int) -> collections.Counter[int]:
    counts: collections.Counter[int] = collections.Counter()
    for run in history.runs():
        if "api" not in (run.get("tags") or []):
            continue
        messages = (run.get("params") or {}).get("messages") or [{}]
        text = str(messages[-1].get("content", ""))
        if text.startswith("soak ") and ":" in text:
            counts[int(text[5:text.index(":")])] += 1
    return counts


def main() -> int:
    """Run the soak against a server started here."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.history import History
    from app.model_refs import resolve_for_load
    from server.config import ServerConfig
    from server.runner import ServerThread
    from server.service import make_service

    config = ServerConfig(port=0, n_ctx=512, threads=1, max_tokens_limit=64)
    with tempfile.TemporaryDirectory() as folder:
        history = History(Path(folder) / "history.sqlite")
        with make_service(history, config, ttl_s=None) as service:
            server = ServerThread(service, config).start()
            path = resolve_for_load(MODEL, "llm")

            def rss() -> int:
                client = service.client("llm", path)
                return rss_bytes(client.pid) if client is not None and client.pid else 0

            try:
                report = run_soak(server.address + "/v1", history, args.requests,
                                  concurrency=args.concurrency, worker_rss=rss, progress=True)
            finally:
                server.stop()
        history.close()
    mib = 1024 * 1024
    print(f"requests {report.sent} in {report.seconds:.1f} s ({report.sent / report.seconds:.1f}/s), "
          f"kinds {dict(report.kinds)}")
    print(f"history: lost {len(report.lost)}, duplicated {len(report.duplicated)}; errors {len(report.errors)}")
    print(f"worker RSS after warm-up {report.rss_warm_bytes / mib:.1f} MiB, at the end "
          f"{report.rss_end_bytes / mib:.1f} MiB (growth {report.rss_growth_bytes / mib:+.1f} MiB)")
    for error in report.errors[:10]:
        print("  error:", error)
    failed = report.lost or report.duplicated or report.errors or report.rss_growth_bytes > 32 * mib
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
