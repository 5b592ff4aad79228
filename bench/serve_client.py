"""How much streaming traffic the serving-benchmark client times faithfully (``workbench bench serve``).

The scripted SSE server (app/loadgen/scripted_server.py) runs in its own process with a fixed TTFT and
fixed gaps between chunks; the client runs here and the offered load rises step by step:

- chunk ladder: 50-token answers, 5 ms apart, at concurrency 1..N (200 chunks/s per stream);
- request ladder: 1-token answers at concurrency 1..N (each request 20 ms).

At each step it reports the achieved chunks/s and requests/s, the TTFT the client measured minus the
scripted 20 ms (median and p99), the client's event-loop lag, and both processes' CPU use (a server near
100 % of a core would make this a server measurement). The first step (concurrency 1) is the baseline; the
client's capacity is the highest rate whose median TTFT stayed within 1 ms of that baseline.

    .venv/bin/python bench/serve_client.py [--max-concurrency 128] [--save] [--json out.json]

``--save`` writes the capacity to the workbench folder, where ``bench serve`` reads it for its warnings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from app.loadgen.capacity import capacity_file  # noqa: E402
from app.loadgen.config import BenchConfig  # noqa: E402
from app.loadgen.records import RequestInput  # noqa: E402
from app.loadgen.runner import run_benchmark  # noqa: E402

TTFT_MS = 20.0
GAP_MS = 5.0
ADDED_LIMIT_MS = 1.0


def _server(tokens: int) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, "-m", "app.loadgen.scripted_server", "--port", "0", "--ttft-ms",
                              str(TTFT_MS), "--gap-ms", str(GAP_MS), "--tokens", str(tokens)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def _step(url: str, concurrency: int, tokens: int, server_pid: int) -> dict[str, Any]:
    count = max(16, 4 * concurrency) if tokens > 1 else max(64, 8 * concurrency)
    prompts = [RequestInput(f"prompt {i}", 2, tokens) for i in range(count)]
    config = BenchConfig(base_url=url, model="scripted", num_prompts=count, output_len=tokens,
                         max_concurrency=concurrency, tokenizer="none", measure_energy=False)
    server = psutil.Process(server_pid)
    # process_time has nanosecond resolution (psutil's times are clock ticks, 10 ms here).
    cpu0, scpu0, t0 = time.process_time(), sum(server.cpu_times()[:2]), time.perf_counter()
    result = run_benchmark(config, requests=prompts)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    m = result.metrics
    chunks = sum(o.chunks for o in result.outputs)
    return {
        "concurrency": concurrency, "tokens": tokens, "requests": count, "failed": m["failed"],
        "chunks_per_s": chunks / m["duration"], "requests_per_s": m["request_throughput"],
        "ttft_added_median_ms": m["median_ttft_ms"] - TTFT_MS,
        "ttft_added_p99_ms": m["p99_ttft_ms"] - TTFT_MS,
        "median_itl_ms": m["median_itl_ms"], "loop_lag_p99_ms": result.loop_lag_p99_ms,
        "client_cpu": cpu / wall, "client_cpu_us_per_chunk": cpu / chunks * 1e6,
        "client_cpu_ms_per_request": cpu / count * 1e3,
        "server_cpu": (sum(server.cpu_times()[:2]) - scpu0) / wall,
    }


def _ladder(tokens: int, limit: int) -> list[dict[str, Any]]:
    child, url = _server(tokens)
    try:
        steps = []
        concurrency = 1
        while concurrency <= limit:
            steps.append(_step(url, concurrency, tokens, child.pid))
            concurrency *= 2
        return steps
    finally:
        child.terminate()
        child.wait(10)


def _capacity(steps: list[dict[str, Any]], key: str) -> float:
    """The highest rate whose median TTFT stayed within ADDED_LIMIT_MS of the first step's."""
    base = steps[0]["ttft_added_median_ms"]
    ok = [s[key] for s in steps if s["ttft_added_median_ms"] - base < ADDED_LIMIT_MS and not s["failed"]]
    return max(ok) if ok else 0.0


def _table(title: str, steps: list[dict[str, Any]]) -> str:
    lines = [f"{title}", "", "| concurrency | chunks/s | req/s | TTFT added median ms | p99 ms | ITL median ms "
             "| loop lag p99 ms | client CPU | client CPU µs/chunk | client CPU ms/request | server CPU |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in steps:
        lines.append(f"| {s['concurrency']} | {s['chunks_per_s']:.0f} | {s['requests_per_s']:.1f} | "
                     f"{s['ttft_added_median_ms']:.2f} | {s['ttft_added_p99_ms']:.2f} | {s['median_itl_ms']:.2f} | "
                     f"{s['loop_lag_p99_ms']:.2f} | {s['client_cpu']:.0%} | {s['client_cpu_us_per_chunk']:.0f} | "
                     f"{s['client_cpu_ms_per_request']:.2f} | {s['server_cpu']:.0%} |")
    return "\n".join(lines)


def main() -> None:
    """Run both ladders and print the tables and the capacity."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-concurrency", type=int, default=128)
    parser.add_argument("--save", action="store_true", help="store the capacity for bench serve's warnings")
    parser.add_argument("--json", help="write every step to this file")
    args = parser.parse_args()
    chunk_steps = _ladder(50, args.max_concurrency)
    request_steps = _ladder(1, args.max_concurrency)
    capacity = {"chunks_per_s": _capacity(chunk_steps, "chunks_per_s"),
                "requests_per_s": _capacity(request_steps, "requests_per_s"),
                "source": f"bench/serve_client.py on {os.uname().nodename}, {time.strftime('%Y-%m-%d')}"}
    print(_table(f"Chunk ladder: {TTFT_MS:g} ms TTFT, 50 chunks {GAP_MS:g} ms apart", chunk_steps))
    print()
    print(_table(f"Request ladder: {TTFT_MS:g} ms TTFT, 1 chunk", request_steps))
    print()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"capacity within {ADDED_LIMIT_MS:g} ms of the concurrency-1 TTFT: {capacity['chunks_per_s']:.0f} "
          f"chunks/s, {capacity['requests_per_s']:.1f} requests/s")
    if args.json:
        Path(args.json).write_text(json.dumps({"chunks": chunk_steps, "requests": request_steps,
                                               "capacity": capacity}, indent=2))
    if args.save:
        capacity_file().write_text(json.dumps(capacity))
        print(f"saved to {capacity_file()}")


if __name__ == "__main__":
    main()
