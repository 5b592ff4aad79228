"""The ``gui`` command, added to the CLI by the launcher so that app/ never imports ui/."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``gui`` command."""
    parser = subparsers.add_parser("gui", help="open the desktop app (the default with no command)")
    parser.add_argument("--page", help="page to open first (chat, classify, bayes, models, compare, history, settings)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the Qt application."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                  or os.environ.get("QT_QPA_PLATFORM")):
        from ui.launcher import no_display_help

        print(no_display_help(), file=sys.stderr)
        return 2
    from ui.app import run_gui

    return run_gui(page=args.page)
