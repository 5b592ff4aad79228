"""``workbench demo``: the headless main job — a tour of every engine on the starter models."""

from __future__ import annotations

import argparse
import importlib
import time
import traceback
from typing import Any

# Each engine's command module offers demo(history); the order is the order of the tour.
DEMO_SECTIONS = (
    ("LLM chat (SmolLM2-135M-Instruct)", "app.commands.chat"),
    ("Image classification (EfficientNet-Lite0)", "app.commands.classify"),
    ("Bayesian network (ALARM with evidence)", "app.commands.bayes"),
)


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser("demo", help="a short headless tour of every engine (no display needed)")
    parser.add_argument("--only", choices=("llm", "vision", "bayes"), help="run one section")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run each section, report failures clearly, and end with where the history lives."""
    from app.devices import cpu_info
    from app.history_open import open_history
    from app.text_table import human_bytes

    cpu = cpu_info()
    print("Local AI Workbench demo")
    print(f"machine: {cpu['model']}, {cpu['physical_cores']} cores ({cpu['default_threads']} thread(s) used), "
          f"{human_bytes(cpu['ram_bytes'])} RAM, ISA {' '.join(cpu['isa'])}")
    history = open_history()
    failures = 0
    keys = {"app.commands.chat": "llm", "app.commands.classify": "vision", "app.commands.bayes": "bayes"}
    try:
        for title, module_name in DEMO_SECTIONS:
            if args.only and keys[module_name] != args.only:
                continue
            print(f"\n== {title} ==")
            started = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
                module.demo(history)
            except Exception as exc:
                failures += 1
                print(f"!! this section failed: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(f"(section took {time.perf_counter() - started:.1f} s)")
        print(f"\nEvery run above is in the history: {history.path}  (see `workbench history`)")
    finally:
        history.close()
    return 1 if failures else 0
