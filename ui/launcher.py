"""The ``workbench`` console script: the CLI of ``app/`` plus the ``gui`` command (the default)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; with no arguments open the desktop app."""
    from app.cli import main as cli_main

    return cli_main(argv, extra_modules=("ui.command",))


if __name__ == "__main__":
    sys.exit(main())
