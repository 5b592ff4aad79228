"""Serving throughput: ``workbench serve --parallel N`` against llama-server ``-np N``, one run, same GGUF.

    python bench/serve.py [--concurrency 1,2,4,8] [--threads 1] [--ctx 512] [--input-len 64]
                          [--output-len 32] [--prompts-per-slot 3] [--engine-only] [--json FILE]

For each concurrency N the script starts (a) ``workbench serve --host 127.0.0.1 --port P --model ID
--parallel N --threads T --ctx C`` with a throwaway WORKBENCH_HOME and (b) llama-server built from the same
vendored llama.cpp (``bench/llama_tools.py``) with ``-np N -c C×N`` (llama-server divides ``-c`` between its
slots, so each slot gets C as ours does), the same GGUF and threads; both are driven by the serving
benchmark client (``app.loadgen.run_benchmark``: random-token prompts decoded with the GGUF's tokenizer,
``ignore_eos``, greedy, ``max_concurrency`` N, N × prompts-per-slot requests). It prints system output tokens/s
(vLLM's ``output_throughput``), median TTFT and TPOT per point and the targets of issue 13:
ours ≥ 0.9× llama-server at every concurrency, ours at 4 ≥ 1.2× ours at 1, TTFT at 1 ≤ llama-server + 10 ms.

``--engine-only`` measures the batching engine without HTTP: system tokens/s of N sequences decoded together
through ModelService (load option ``parallel``) against the single path (``parallel`` 1) one request at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from app.service import LoadSpec, SlotKey

MODEL = "smollm2-135m-instruct"
_REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 300.0


@dataclass
class Point:
    """One backend at one concurrency."""

    backend: str
    concurrency: int
    output_tok_s: float
    ttft_ms: float
    tpot_ms: float
    completed: int
    failed: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(command: Sequence[str], port: int, env: dict[str, str], log: Path, ready: str) -> Iterator[str]:
    """Start a server, wait until ``ready`` (a path) answers 200, yield its base URL, stop it."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(base + ready, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer {ready} within {START_TIMEOUT_S:.0f} s; see {log}")
            time.sleep(0.25)
        yield base + "/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # uvicorn and llama-server both shut down cleanly on SIGINT
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _measure(backend: str, base_url: str, gguf: Path, concurrency: int, args: argparse.Namespace) -> Point:
    from app.loadgen.config import BenchConfig
    from app.loadgen.runner import run_benchmark

    config = BenchConfig(base_url=base_url, model=args.model, endpoint="completions", dataset="random",
                         input_len=args.input_len, output_len=args.output_len,
                         num_prompts=concurrency * args.prompts_per_slot, max_concurrency=concurrency,
                         ignore_eos=True, temperature=0.0, tokenizer=str(gguf), label=backend,
                         measure_energy=False, seed=0)
    # One untimed request first: the first decode of a fresh process pays page faults and thread start-up.
    httpx.post(config.api_url, json={"model": args.model, "prompt": "Hello", "max_tokens": 4, "temperature": 0},
               timeout=120.0)
    result = run_benchmark(config)
    m = result.metrics
    for warning in result.warnings:
        print(f"  note ({backend}, {concurrency}): {warning}", file=sys.stderr)
    return Point(backend, concurrency, float(m["output_throughput"]), float(m["median_ttft_ms"]),
                 float(m["median_tpot_ms"]), int(m["completed"]), int(m["failed"]))


def _ours(args: argparse.Namespace, port: int, parallel: int, logs: Path) -> tuple[list[str], dict[str, str]]:
    """``workbench serve`` with ``parallel`` slots, and its environment (a throw-away data folder)."""
    # PYTHONPATH: an editable install made before server/ existed does not map that package.
    env = {**os.environ, "WORKBENCH_HOME": tempfile.mkdtemp(prefix="wb-home-", dir=logs),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(_REPO), os.environ.get("PYTHONPATH"))))}
    command = [str(Path(sys.executable).with_name("workbench")), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", args.model, "--parallel", str(parallel), "--threads", str(args.threads),
               "--ctx", str(args.ctx), "--device", args.device]
    return command, env


def _peer(args: argparse.Namespace, llama_server: Path, gguf: Path, port: int, parallel: int) -> list[str]:
    """llama-server with ``parallel`` slots of ``--ctx`` tokens each (it divides ``-c`` between them)."""
    return [str(llama_server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-np", str(parallel),
            "-c", str(args.ctx * parallel), "-t", str(args.threads), "-tb", str(args.threads), "--no-webui",
            "-ngl", "0" if args.device == "cpu" else "99"]


def bench_servers(args: argparse.Namespace, gguf: Path) -> list[Point]:
    """Ours and llama-server at every concurrency, alternating so drifting machine load hits both alike."""
    from bench.llama_tools import tool_path

    llama_server = None
    if args.llama_server is not None:
        llama_server = args.llama_server
    elif not args.no_peer:
        print("llama-server: building once into the cache if needed ...", file=sys.stderr, flush=True)
        llama_server = tool_path("llama-server")
    points: list[Point] = []
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    for concurrency in args.concurrency:
        port = _free_port()
        ours, env = _ours(args, port, concurrency, logs)
        with _server(ours, port, env, logs / f"workbench-{concurrency}.log", "/health") as url:
            points.append(_measure("workbench", url, gguf, concurrency, args))
        if llama_server is not None:
            port = _free_port()
            peer = _peer(args, llama_server, gguf, port, concurrency)
            with _server(peer, port, dict(os.environ), logs / f"llama-server-{concurrency}.log", "/health") as url:
                points.append(_measure("llama-server", url, gguf, concurrency, args))
        print(f"  concurrency {concurrency}: " + ", ".join(
            f"{p.backend} {p.output_tok_s:.1f} tok/s" for p in points if p.concurrency == concurrency),
            file=sys.stderr, flush=True)
    print(f"server logs: {logs}", file=sys.stderr)
    return points


def _runners(count: int) -> Callable[[SlotKey, LoadSpec], int]:
    def runners(key: SlotKey, spec: LoadSpec) -> int:
        return count
    return runners


def bench_engine(args: argparse.Namespace) -> list[Point]:
    """System tokens/s through ModelService: N sequences batched vs the single path one at a time."""
    from app.service import ModelService

    prompts = [f"Write a short note number {i} about the sea." for i in range(max(args.concurrency) * 2)]
    params = {"temperature": 0.0, "seed": 1, "max_tokens": args.output_len, "ignore_eos": True, "stream": True}
    points: list[Point] = []
    for concurrency in [1, *args.concurrency]:
        backend = "single path" if not points else "batched"
        # The batched path at 1 sequence too (a 2-sequence context with one request in flight): its overhead.
        parallel = 1 if backend == "single path" else max(2, concurrency)
        options = {"n_ctx": args.ctx, "parallel": parallel}
        batch = prompts[: concurrency * args.prompts_per_slot]
        # A service per point, whose slot runs ``concurrency`` requests at once (the rest wait in its queue).
        with ModelService(None, parallel=_runners(concurrency)) as service:
            service.load("llm", args.model, options=options, threads=args.threads).outcome(timeout=600)
            service.submit("llm", args.model, "chat", {"prompt": "Hi", "max_tokens": 4, "temperature": 0.0},
                           options=options, threads=args.threads, record=False).outcome(timeout=600)
            t0 = time.perf_counter()
            tickets = [service.submit("llm", args.model, "chat", {"prompt": prompt, **params}, options=options,
                                      threads=args.threads, record=False) for prompt in batch]
            outcomes = [t.outcome(timeout=1800) for t in tickets]
            seconds = time.perf_counter() - t0
        done = [o.result for o in outcomes if o.ok and o.result is not None]
        tokens = sum(int(r["gen_tokens"]) for r in done)
        ttft = sorted(float(r["metrics"]["ttft_ms"]) for r in done)
        tpot = sorted(float(r["metrics"].get("tpot_ms", 0.0)) for r in done)
        points.append(Point(f"engine {backend}", concurrency, tokens / seconds,
                            ttft[len(ttft) // 2] if ttft else 0.0, tpot[len(tpot) // 2] if tpot else 0.0,
                            len(done), len(outcomes) - len(done)))
        print(f"  engine {backend} x{concurrency}: {tokens / seconds:.1f} tok/s", file=sys.stderr, flush=True)
    return points


def bench_invariance(args: argparse.Namespace, count: int) -> list[str]:
    """How often a greedy answer decoded beside others parts from the same request decoded alone, and why.

    ``count`` prompts run alone, then ``4`` at a time, all through one ``parallel=4`` slot; where two answers
    part, the top-2 logit gap of that step alone is reported (a near tie that batched rounding broke).
    """
    from app.service import ModelService

    options = {"n_ctx": args.ctx, "parallel": 4}
    prompts = [f"Tell me one fact about the number {i}." for i in range(count)]
    params = {"temperature": 0.0, "seed": 1, "max_tokens": args.output_len, "ignore_eos": True, "logprobs": 2}

    def run(batch: list[str], service: ModelService) -> list[dict[str, Any]]:
        tickets = [service.submit("llm", args.model, "chat", {"prompt": p, **params}, options=options,
                                  threads=args.threads, record=False) for p in batch]
        results = []
        for ticket in tickets:
            outcome = ticket.outcome(timeout=1800)
            assert outcome.ok and outcome.result is not None, outcome.error
            results.append(dict(outcome.result))
        return results

    with ModelService(None) as service:
        alone = [run([p], service)[0] for p in prompts]
        together = [r for i in range(0, count, 4) for r in run(prompts[i: i + 4], service)]
    lines, tokens, splits = [], 0, 0
    for index, (a, b) in enumerate(zip(alone, together, strict=True)):
        ids_a = [e["id"] for e in a["logprobs"]]
        ids_b = [e["id"] for e in b["logprobs"]]
        tokens += len(ids_a)
        part = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b, strict=False)) if x != y), None)
        if part is not None:
            splits += 1
            top = a["logprobs"][part]["top_logprobs"]
            gap = top[0]["logprob"] - top[1]["logprob"]
            lines.append(f"prompt {index}: parts at token {part}, top-2 logit gap alone {gap:.4f}")
    lines.insert(0, f"batch invariance: {count - splits}/{count} greedy answers identical token for token "
                    f"({tokens} tokens compared); {splits} parted")
    return lines


_WORDS = ("apple", "river", "stone", "cloud", "music", "paper", "light", "garden", "window", "silver", "thunder",
          "forest", "candle", "ocean", "bridge", "mirror")


def _first_chunk_ms(base_url: str, model: str, prompt: str) -> float:
    """Send -> first streamed chunk with ``choices`` (the loadgen's TTFT), for one completion."""
    body = {"model": model, "prompt": prompt, "max_tokens": 2, "temperature": 0.0, "stream": True}
    start = time.perf_counter()
    with httpx.stream("POST", base_url + "/completions", json=body, timeout=120.0) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:]).get("choices"):
                return (time.perf_counter() - start) * 1000
    raise RuntimeError(f"{base_url} streamed no chunk with choices")


def bench_ttft(args: argparse.Namespace, gguf: Path, count: int) -> list[str]:
    """TTFT at concurrency 1 request by request: both servers up at once, requests alternating between them."""
    import random
    import statistics

    from bench.llama_tools import tool_path

    llama_server = args.llama_server or tool_path("llama-server")
    logs = Path(tempfile.mkdtemp(prefix="bench-ttft-"))
    ours_port, peer_port = _free_port(), _free_port()
    ours, env = _ours(args, ours_port, 1, logs)
    peer = _peer(args, llama_server, gguf, peer_port, 1)
    # Distinct prompts (no shared prefix to reuse), each sent to both servers.
    rngs = [random.Random(i) for i in range(count + 1)]
    prompts = [" ".join(rng.choice(_WORDS) for _ in range(args.input_len)) for rng in rngs]
    times: dict[str, list[float]] = {"workbench": [], "llama-server": []}
    with _server(ours, ours_port, env, logs / "workbench.log", "/health") as ours_url, \
            _server(peer, peer_port, dict(os.environ), logs / "llama-server.log", "/health") as peer_url:
        urls = {"workbench": ours_url, "llama-server": peer_url}
        for url in urls.values():
            _first_chunk_ms(url, args.model, prompts[-1])  # untimed: page faults, thread start-up
        for index, prompt in enumerate(prompts[:count]):
            order = list(urls) if index % 2 == 0 else list(urls)[::-1]
            for name in order:
                times[name].append(_first_chunk_ms(urls[name], args.model, prompt))
    ours_ms, peer_ms = statistics.median(times["workbench"]), statistics.median(times["llama-server"])
    # The same prompt on both servers, back to back: the median of these differences shrugs off slow moments.
    delta = statistics.median(a - b for a, b in zip(times["workbench"], times["llama-server"], strict=True))
    return [f"TTFT at concurrency 1, {count} prompts of {args.input_len} words alternating between the servers "
            f"(threads {args.threads}): workbench median {ours_ms:.1f} ms, llama-server {peer_ms:.1f} ms, "
            f"median of the per-prompt differences {delta:+.1f} ms (target <= +10) {'PASS' if delta <= 10 else 'MISS'}",
            "workbench ms: " + ", ".join(f"{t:.0f}" for t in times["workbench"]),
            "llama-server ms: " + ", ".join(f"{t:.0f}" for t in times["llama-server"])]


def _table(points: list[Point]) -> str:
    lines = ["| backend | concurrency | system output tok/s | median TTFT ms | median TPOT ms | completed | failed |",
             "|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p.backend} | {p.concurrency} | {p.output_tok_s:.1f} | {p.ttft_ms:.1f} | {p.tpot_ms:.1f} "
                     f"| {p.completed} | {p.failed} |")
    return "\n".join(lines)


def _targets(points: list[Point]) -> list[str]:
    ours = {p.concurrency: p for p in points if p.backend == "workbench"}
    peer = {p.concurrency: p for p in points if p.backend == "llama-server"}
    lines = []
    for n in sorted(ours):
        if n in peer and peer[n].output_tok_s > 0:
            ratio = ours[n].output_tok_s / peer[n].output_tok_s
            lines.append(f"concurrency {n}: ours/llama-server = {ratio:.2f} (target >= 0.90) "
                         f"{'PASS' if ratio >= 0.9 else 'MISS'}")
    if 1 in ours and 4 in ours and ours[1].output_tok_s > 0:
        scale = ours[4].output_tok_s / ours[1].output_tok_s
        lines.append(f"ours at 4 / ours at 1 = {scale:.2f} (target >= 1.20) {'PASS' if scale >= 1.2 else 'MISS'}")
    if 1 in ours and 1 in peer:
        delta = ours[1].ttft_ms - peer[1].ttft_ms
        lines.append(f"TTFT at 1: ours {ours[1].ttft_ms:.1f} ms, llama-server {peer[1].ttft_ms:.1f} ms, "
                     f"difference {delta:+.1f} ms (target <= +10) {'PASS' if delta <= 10 else 'MISS'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print a Markdown table with the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,2,4,8",
                        type=lambda text: [int(x) for x in text.split(",") if x.strip()])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=512, help="context tokens per sequence")
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=32)
    parser.add_argument("--prompts-per-slot", type=int, default=3, help="requests per point = N × this")
    parser.add_argument("--no-peer", action="store_true",
                        help="only workbench serve (when llama-server cannot be built here); no ratio targets")
    parser.add_argument("--engine-only", action="store_true", help="measure the batching engine without HTTP")
    parser.add_argument("--invariance", type=int, metavar="N", default=0,
                        help="instead: N greedy prompts alone vs 4 at a time, token by token")
    parser.add_argument("--ttft", type=int, metavar="N", default=0,
                        help="instead: TTFT at concurrency 1 over N prompts, alternating request by request")
    parser.add_argument("--json", type=Path, help="also write the points here")
    parser.add_argument("--model", default=MODEL, help="a GGUF path or model id (default the starter model)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0 (llama-server then offloads every layer)")
    parser.add_argument("--llama-server", type=Path, help="a llama-server binary (default: bench/llama_tools.py's)")
    args = parser.parse_args(argv)

    from app.model_refs import resolve_model_ref

    gguf = Path(resolve_model_ref(args.model, "llm"))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.invariance:
        for line in bench_invariance(args, args.invariance):
            print(line)
        return 0
    if args.ttft:
        for line in bench_ttft(args, gguf, args.ttft):
            print(line)
        return 0
    load = os.getloadavg()[0]
    points = bench_engine(args) if args.engine_only else bench_servers(args, gguf)
    print(f"# serving throughput, {started}, {gguf.name}, threads {args.threads}, ctx {args.ctx}/sequence, "
          f"input {args.input_len}, output {args.output_len}, {os.cpu_count()} CPUs, load average at start "
          f"{load:.1f}\n")
    print(_table(points))
    for line in _targets(points):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([p.__dict__ for p in points], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
