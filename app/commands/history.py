"""``workbench history``: recorded runs."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import Any

KEY_METRICS = ("ttft_ms", "gen_tokens_per_s", "prompt_tokens_per_s", "images_per_s", "latency_p90_ms",
               "top1", "query_ms", "compile_ms", "pp_tokens_per_s", "tg_tokens_per_s")


def register(subparsers: Any) -> None:
    """Add the ``history`` command."""
    parser = subparsers.add_parser("history", help="list recorded runs")
    parser.add_argument("--engine", help="only runs of this engine (llm, vision, bayes, ...)")
    parser.add_argument("--status", choices=("running", "ok", "cancelled", "failed", "crashed"))
    parser.add_argument("--limit", type=int, default=20, help="newest N runs (default 20; 0 = all)")
    parser.add_argument("--run", metavar="ID", help="show one run in full, with its time series (the 8-character "
                        "id the table shows is enough)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    parser.set_defaults(handler=run)


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _key_metrics(metrics: dict[str, Any] | None) -> str:
    metrics = metrics or {}
    parts = [f"{k}={metrics[k]:.4g}" for k in KEY_METRICS if isinstance(metrics.get(k), int | float)]
    return " ".join(parts[:4])


def run(args: argparse.Namespace) -> int:
    """Print runs as a table, JSON or CSV."""
    from app.history_open import open_history
    from app.text_table import format_table

    history = open_history(record=False)
    try:
        if args.run:
            try:
                run_id = history.resolve_run_id(args.run)
            except KeyError as exc:
                print(f"error: {exc.args[0]}", file=sys.stderr)
                return 1
            record = history.get_run(run_id)
            record["samples"] = {k: len(v) for k, v in history.samples(run_id).items()}
            print(json.dumps(record, indent=2, default=str))
            return 0
        runs = history.runs(engine=args.engine, status=args.status, limit=args.limit or None)
    finally:
        history.close()
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["id", "started", "ended", "engine", "op", "model", "device", "status", "error",
                         "metrics"])
        for r in runs:
            writer.writerow([r["id"], _when(r["started_at"]), _when(r["ended_at"]), r["engine"], r["op"],
                             r["model_id"], r["device"], r["status"], r["error"] or "",
                             json.dumps(r["metrics"] or {})])
    elif not runs:
        print("no runs recorded yet")
    else:
        rows = [(r["id"][:8], _when(r["started_at"]), r["engine"], r["op"], r["model_id"] or "", r["device"] or "",
                 r["status"], _key_metrics(r["metrics"]) or (r["error"] or "")[:60]) for r in runs]
        print(format_table(("run", "started", "engine", "op", "model", "device", "status", "metrics"), rows))
    return 0
