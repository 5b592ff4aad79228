"""``workbench bench serve``: load-test any OpenAI-compatible endpoint the way ``vllm bench serve`` does."""

from __future__ import annotations

import argparse
import itertools
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

_FORMATS = ("md", "csv", "json")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, not {text!r}") from None


def register(targets: Any) -> None:
    """Add ``bench serve``."""
    parser = targets.add_parser(
        "serve", help="load-test an OpenAI-compatible endpoint (vllm bench serve's metrics and JSON)",
        description="Sends a dataset of prompts to a streaming OpenAI-compatible endpoint at a request rate "
                    "(seeded gamma/Poisson arrivals) or a concurrency cap, and reports TTFT, TPOT, ITL and "
                    "E2EL percentiles, throughput and goodput exactly as `vllm bench serve` computes them. "
                    "Comma lists sweep: one result (and one history run) per point.")
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080 (or .../v1)")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"),
                        help="bearer token (default: $OPENAI_API_KEY)")
    parser.add_argument("--model", required=True, help="the model name the server knows")
    parser.add_argument("--endpoint", choices=("completions", "chat"), default="completions",
                        help="/v1/completions (default, as vLLM) or /v1/chat/completions")
    parser.add_argument("--dataset", nargs="+", default=["random"], metavar=("NAME", "FILE"),
                        help="random (default: random token ids, exact lengths), sharegpt FILE, or text "
                             "(the public-domain text shipped in resources/texts/)")
    parser.add_argument("--input-len", type=int, default=128, help="prompt tokens (random/text; default 128)")
    parser.add_argument("--output-len", type=int, help="max tokens per answer (default 64; ShareGPT: its own)")
    parser.add_argument("--num-prompts", type=int, default=32, help="requests per point (default 32)")
    parser.add_argument("--max-concurrency", type=_ints, help="cap(s) on requests in flight, e.g. 1,2,4,8")
    parser.add_argument("--request-rate", type=_floats, help="arrival rate(s) in req/s, e.g. 1,2,4 "
                                                             "(default inf: all at once)")
    parser.add_argument("--burstiness", type=float, default=1.0, help="gamma shape of the arrival gaps (1 = Poisson)")
    parser.add_argument("--goodput", action="append", default=[], metavar="SLO",
                        help="SLOs in ms for goodput, e.g. ttft:500,tpot:50,e2el:5000")
    parser.add_argument("--percentiles", type=_floats, default=(99.0,), help="percentiles to report (default 99)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset and the arrivals (default 0)")
    parser.add_argument("--tokenizer", help="auto (default: the server's /tokenize if it has one), server, none, "
                                            "a .gguf, a tokenizer.json or a workbench model id")
    parser.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=None,
                        help="ask the server to generate all max tokens (default: on for random, as vLLM)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (default: the server's)")
    parser.add_argument("--label", help="the result's label (default: the backend name)")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest silence in a response, s (600)")
    for fmt in _FORMATS:
        parser.add_argument(f"--{fmt}", metavar="OUT", help=f"write the results as {fmt} to OUT ('-' = stdout)"
                            + ("; vLLM's result JSON, one point per line" if fmt == "json" else ""))
    parser.add_argument("--detailed", action="store_true", help="JSON with the per-request arrays (vLLM's "
                                                                "--save-detailed)")
    parser.add_argument("--no-history", action="store_true", help="do not record the runs in the history")
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The config and sweep points the arguments describe (raises ConfigError with the reason)."""
    from app.loadgen.config import BenchConfig, ConfigError, SweepPoint, parse_goodput

    name, *rest = args.dataset
    if name not in ("random", "sharegpt", "text") or len(rest) > 1 or (name == "sharegpt") != bool(rest):
        raise ConfigError("--dataset is random, text, or sharegpt FILE")
    config = BenchConfig(
        base_url=args.base_url, model=args.model, api_key=args.api_key, endpoint=args.endpoint, dataset=name,
        dataset_path=rest[0] if rest else None, input_len=args.input_len,
        output_len=args.output_len if args.output_len is not None or name == "sharegpt" else 64,
        num_prompts=args.num_prompts, burstiness=args.burstiness, goodput=parse_goodput(args.goodput),
        percentiles=args.percentiles, seed=args.seed, ignore_eos=args.ignore_eos, temperature=args.temperature,
        tokenizer=args.tokenizer, label=args.label, request_timeout_s=args.timeout)
    caps: tuple[int | None, ...] = args.max_concurrency or (None,)
    rates: tuple[float, ...] = args.request_rate or (math.inf,)
    points = [SweepPoint(c, r) for c, r in itertools.product(caps, rates)]
    for point in points:
        config.at(point)  # validates every point
    return config, points


class _Progress:
    """One status line on stderr, rewritten in place on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, p: Any) -> None:
        line = (f"[{p.point_index + 1}/{p.points} {p.label}] {p.done}/{p.total} done, {p.failed} failed, "
                f"{p.elapsed_s:.1f} s")
        if self.tty:
            print("\r" + line.ljust(72), end="" if p.done < p.total else "\n", file=sys.stderr, flush=True)
        elif p.done == p.total:
            print(line, file=sys.stderr, flush=True)


def _write(args: argparse.Namespace, results: list[Any]) -> bool:
    from app.loadgen.export import to_csv, to_json, to_markdown

    writers = {"md": to_markdown, "csv": to_csv, "json": lambda r: to_json(r, args.detailed)}
    stdout_taken = False
    for fmt in _FORMATS:
        target = getattr(args, fmt)
        if not target:
            continue
        text = writers[fmt](results)
        if target == "-":
            stdout_taken = True
            sys.stdout.write(text)
        else:
            try:
                Path(target).write_text(text)
            except OSError as exc:
                print(f"error: cannot write {target}: {exc}", file=sys.stderr)
                return False
            print(f"wrote {target}", file=sys.stderr)
    if not stdout_taken:
        sys.stdout.write(to_markdown(results))
    return True


def run(args: argparse.Namespace) -> int:
    """Run the sweep with progress on stderr; the first Ctrl-C stops it and keeps what finished."""
    from app.history_open import open_history
    from app.loadgen.config import ConfigError
    from app.loadgen.datasets import DatasetError
    from app.loadgen.runner import run_sweep
    from app.loadgen.tokenizer import TokenizerUnavailable

    try:
        config, points = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cancel = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_interrupt(signum: int, frame: Any) -> None:
            if cancel.is_set():
                raise KeyboardInterrupt
            cancel.set()
            print("\ncancelling: keeping the requests that finished (Ctrl-C again to quit at once)",
                  file=sys.stderr, flush=True)

        previous = signal.signal(signal.SIGINT, on_interrupt)
    # A history that cannot be written becomes an in-memory one, with a notice: the benchmark still runs.
    history = None if args.no_history else open_history()
    results: list[Any] = []
    try:
        run_sweep(config, points, _Progress(), cancel, on_result=results.append, history=history)
    except (DatasetError, TokenizerUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if history is not None:
            history.close()
    markdown_on_stdout = not any(getattr(args, fmt) == "-" for fmt in _FORMATS) or args.md == "-"
    for result in results:
        if not markdown_on_stdout:  # the Markdown lists them under its table
            for warning in result.warnings:
                print(f"warning [{result.summary()['point']}]: {warning}", file=sys.stderr)
        if result.run_id:
            print(f"recorded {result.summary()['point']} as run {result.run_id}", file=sys.stderr)
    if results and not _write(args, results):
        return 1
    if cancel.is_set():
        return 130
    return 0 if results and all(r.status == "ok" for r in results) else 1
