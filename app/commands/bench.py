"""``workbench bench``: measurements the way the reference tools make them (``bench llm``: llama-bench)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

CSV_FIELDS = ("model_filename", "model_type", "model_size", "model_n_params", "backend", "n_threads",
              "n_batch", "n_ubatch", "type_k", "type_v", "n_gpu_layers", "flash_attn", "test", "n_prompt",
              "n_gen", "avg_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts")


def register(subparsers: Any) -> None:
    """Add the ``bench`` group and its targets."""
    parser = subparsers.add_parser("bench", help="benchmark an engine (llama-bench style for LLMs)")
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])
    for add in TARGETS:
        add(targets)


def _register_llm(targets: Any) -> None:
    from app.commands.chat import add_load_arguments

    parser = targets.add_parser("llm", help="prompt processing (pp) and generation (tg) speed of a GGUF")
    add_load_arguments(parser)
    parser.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens (default 512; 0 = skip)")
    parser.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens (default 128; 0 = skip)")
    parser.add_argument("-r", "--repetitions", type=int, default=5, help="measured runs per test (default 5)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up run")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON with every sample")
    fmt.add_argument("--csv", action="store_true", help="CSV, one row per test (samples ';'-joined)")
    fmt.add_argument("--md", action="store_true", help="Markdown table (the default)")
    parser.set_defaults(handler=run_llm)


def _register_vision(targets: Any) -> None:
    from app.commands.classify import register_bench

    register_bench(targets)


def _register_serve(targets: Any) -> None:
    from app.commands.bench_serve import register

    register(targets)


# Each target adds its own sub-parser.
TARGETS: tuple[Callable[[Any], None], ...] = (_register_llm, _register_vision, _register_serve)


def rows_for(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """llama-bench's fields, one row per test."""
    model = result.get("model", {})
    rows = []
    for test in result.get("tests", []):
        rows.append({
            "model_filename": model.get("name"), "model_type": f"{model.get('architecture')} "
            f"{model.get('quantization')}", "model_size": model.get("file_size"),
            "model_n_params": model.get("parameters"), "backend": "CPU" if model.get("device") == "cpu"
            else str(model.get("device")), "n_threads": model.get("threads"), "n_batch": model.get("n_batch"),
            "n_ubatch": model.get("n_ubatch"), "type_k": model.get("cache_type_k"),
            "type_v": model.get("cache_type_v"), "n_gpu_layers": model.get("gpu_layers"),
            "flash_attn": model.get("flash_attn"), **{k: test[k] for k in (
                "test", "n_prompt", "n_gen", "avg_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts")},
        })
    return rows


def format_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The llama-bench Markdown table."""
    lines = ["| model | size | params | backend | threads | test | t/s |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for row in rows:
        size = f"{(row['model_size'] or 0) / 2**20:.2f} MiB"
        params = f"{(row['model_n_params'] or 0) / 1e6:.2f} M"
        lines.append(f"| {row['model_type']} | {size} | {params} | {row['backend']} | {row['n_threads']} | "
                     f"{row['test']} | {row['avg_ts']:.2f} ± {row['stddev_ts']:.2f} |")
    return "\n".join(lines)


def format_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV with llama-bench's column names; sample lists joined with ';'."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row[k])
                         if isinstance(row[k], list) else row[k] for k in CSV_FIELDS})
    return out.getvalue()


def run_llm(args: argparse.Namespace) -> int:
    """Load the model in a worker, run the bench op recorded in the history, print the results."""
    from app.commands.chat import llm_worker, load_options, model_label, resolve_llm
    from app.errors import EngineDeadError, RequestFailed
    from app.history_open import open_history

    path = resolve_llm(args, "bench")
    if path is None:
        return 2
    if args.n_prompt < 0 or args.n_gen < 0 or args.repetitions < 1 or not (args.n_prompt or args.n_gen):
        print("error: -p and -n must be >= 0 (not both 0) and -r >= 1", file=sys.stderr)
        return 2
    # llama-bench sizes the context to the test; a little room keeps small tests valid.
    options = load_options(args, n_ctx=max(args.n_prompt, args.n_gen, 64))
    history = open_history()
    try:
        with llm_worker(args.threads) as client:
            try:
                client.load(str(path), args.device, options)
            except (RequestFailed, EngineDeadError) as exc:
                print(f"error: cannot load {args.model}: {exc}", file=sys.stderr)
                return 1
            from app.recording import run_recorded

            params = {"n_prompt": args.n_prompt, "n_gen": args.n_gen, "repetitions": args.repetitions,
                      "warmup": not args.no_warmup}
            outcome = run_recorded(client, "bench", params, history=history, engine="llm",
                                   model_id=model_label(args.model), device=args.device)
    finally:
        history.close()
    if not outcome.ok or outcome.result is None:
        print(f"error: the benchmark {outcome.status}: {outcome.error}", file=sys.stderr)
        return 1
    rows = rows_for(outcome.result)
    if args.json:
        print(json.dumps({"run_id": outcome.run_id, "results": rows}, indent=2))
    elif args.csv:
        sys.stdout.write(format_csv(rows))
    else:
        print(format_markdown(rows))
        print(f"\nrecorded as run {outcome.run_id} ({args.repetitions} runs per test"
              f"{'' if args.no_warmup else ' after a warm-up'}; every sample kept)", file=sys.stderr)
    return 0
