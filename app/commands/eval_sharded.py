"""``workbench eval FOLDER --devices A,B``: a sharded evaluation, printed like a one-worker eval."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any


def run_sharded_eval_command(args: argparse.Namespace) -> int:
    """Evaluate over several devices; print accuracy, per-class table, confusion and images/s per device."""
    from app.cluster.ray_env import ClusterError
    from app.cluster.sharded_eval import ShardedEvalError, sharded_eval
    from app.commands.classify import eval_text, load_options
    from app.default_models import default_model
    from app.errors import WorkbenchError
    from app.history import History
    from app.text_table import format_table

    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    model = args.model or default_model("vision")
    cancel = threading.Event()
    shown: dict[str, str] = {}
    last = [0.0]

    def on_progress(device: str, done: float, total: float | None) -> None:
        shown[device] = f"{device} {done:.0f}/{total:.0f}" if total else device
        now = time.monotonic()
        if now - last[0] > 0.5:
            last[0] = now
            print("\r" + "  ".join(shown.values()), end="", file=sys.stderr, flush=True)

    history = History()
    try:
        result = sharded_eval(args.folder, devices, model, load_options(args), threads=args.threads,
                              history=history, on_progress=on_progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\ninterrupted: evaluation cancelled", file=sys.stderr)
        return 130
    except (ShardedEvalError, ClusterError, WorkbenchError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    finally:
        history.close()
    width = len("  ".join(shown.values()))
    print("\r" + " " * width + "\r", end="", file=sys.stderr, flush=True)  # clear the progress line
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(eval_text(result))
    print()
    rows: list[tuple[Any, ...]] = [(s["device"], s["evaluated"], f"{s['images_per_s']:.1f}", f"{s['seconds']:.1f}",
                                    str(s["run_id"])[:8]) for s in result["shards"]]
    print(format_table(("device", "images", "images/s", "seconds", "run"), rows, align_right=(1, 2, 3)))
    print(f"all devices together: {result['metrics']['images_per_s']:.1f} images/s over "
          f"{result['metrics']['wall_s']:.1f} s (backend {result['backend']} {result['precision']} on each)")
    return 0
