"""The ``workbench`` console script: the CLI of ``app/`` plus the ``gui`` command (the default)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata

# (label, distributions that provide it, required): read from package metadata, so no engine library is imported.
LIBRARIES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("llama-cpp-python", ("llama-cpp-python",), True),
    ("torch", ("torch",), True),
    ("torchvision", ("torchvision",), True),
    ("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"), True),
    ("pgmpy", ("pgmpy",), False),
    ("pyagrum", ("pyagrum",), False),
    ("ray", ("ray",), False),
    ("PySide6", ("PySide6-Essentials", "PySide6"), True),
)


def _installed(names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def version_report() -> str:
    """The app's version, Python's, and the versions of the engines' libraries (from metadata, no imports)."""
    from app import __version__

    lines = [f"workbench {__version__}",
             f"Python {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.system()} {platform.machine()})"]
    width = max(len(label) for label, _, _ in LIBRARIES)
    for label, names, required in LIBRARIES:
        found = _installed(names)
        if found is None:
            if required:
                lines.append(f"{label:<{width}}  not installed")
            continue
        name, version = found
        variant = f" ({name})" if name != names[0] else ""
        lines.append(f"{label:<{width}}  {version}{variant}")
    return "\n".join(lines)


def has_display() -> bool:
    """Whether Qt can open a window here: always off Linux/BSD, else an X11 or Wayland display (or a chosen
    Qt platform plugin such as ``offscreen``)."""
    if sys.platform in ("darwin", "win32", "cygwin"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def no_display_help() -> str:
    """How to get the desktop app from a terminal without a display, and what runs without one."""
    xvfb = "installed here" if shutil.which("xvfb-run") else "Debian/Ubuntu: sudo apt install xvfb"
    return "\n".join([
        "workbench: no display here (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop app cannot open.",
        "To see the app:",
        "  workbench               from a terminal of a desktop session (X11 or Wayland)",
        "  ssh -X HOST workbench   X forwarding: the window opens on your own screen",
        f"  xvfb-run -a workbench   on a virtual X display ({xvfb})",
        "Without a display:",
        "  workbench demo          a headless tour of every engine (chat, benchmark, classify, Bayes), about 20 s",
        "  workbench --help        every command: chat, bench, classify, bayes, models, compare, history",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; with no arguments open the desktop app (or say how to, where there is no display)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(version_report())  # noqa: T201
        return 0
    if not args and not has_display():
        # A plain `workbench` over SSH or in a container: explain the ways to a GUI rather than fail.
        print(no_display_help())  # noqa: T201
        return 0
    from app.cli import main as cli_main

    return cli_main(args, extra_modules=("ui.command", "server.cli"))


if __name__ == "__main__":
    sys.exit(main())
