"""The ``workbench`` command line: every feature of the app, headless."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module adds its own sub-commands through register(subparsers); they import heavy libraries lazily.
COMMAND_MODULES = (
    "app.commands.devices",
    "app.commands.engines",
    "app.commands.history",
    "app.commands.chat",
    "app.commands.bench",
    "app.commands.classify",
    "app.commands.bayes",
    "app.commands.models",
    "app.commands.compare",
    "app.commands.quality",
    "app.commands.demo",
    "app.commands.cluster",
)


def build_parser(extra_modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full argument parser; ``extra_modules`` add command groups from layers above ``app``."""
    from app import __version__

    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Run LLMs, vision CNNs and Bayesian networks locally, and measure them. "
                    "With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (*COMMAND_MODULES, *extra_modules):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group that is not part of this build
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, extra_modules: Sequence[str] = ()) -> int:
    """Parse and run one command; with no arguments run ``gui`` where a layer above registered it."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(extra_modules)
    if not args_list:
        if "ui.command" not in extra_modules:
            parser.print_help()
            return 2
        args_list = ["gui"]
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    import sqlite3

    from app.history_file import HistoryUnavailable, is_damage, request_full_check
    from core.paths import DataFolderError, database_path

    try:
        code = handler(args)
    except (HistoryUnavailable, DataFolderError) as exc:
        # The data folder or the history is unusable: say what and where, never a raw traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        # Damage in a part of the history not checked at start (the time series of a big file).
        request_full_check(database_path())
        print(f"error: the history database is damaged ({exc}); it is checked in full at the next start, "
              "and set aside (kept) if the damage is confirmed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
