"""Start the desktop app: QApplication, theme, the shared context and the main window."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

_T0 = time.perf_counter()

# Libraries the window must never import at start-up (each costs seconds; engines import them in workers).
HEAVY_MODULES = ("torch", "llama_cpp", "onnxruntime", "huggingface_hub", "pgmpy", "pyagrum", "torchvision")
SETTINGS_ENV = "WORKBENCH_SETTINGS"  # an INI file used instead of the platform's settings store


def make_settings() -> object:
    """The app's QSettings: the platform store, or the INI file named by ``WORKBENCH_SETTINGS``."""
    from PySide6.QtCore import QSettings

    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("local-ai-workbench", "workbench")


def run_gui(page: str | None = None, *, startup_probe: bool = False) -> int:
    """Open the main window (on ``page``, else the last one) and run the event loop; returns the exit code."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from PySide6.QtWidgets import QApplication

    from ui.context import AppContext
    from ui.main_window import MainWindow
    from ui.theme import THEME_KEY, apply_theme, follow_system

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Local AI Workbench")
    app.setOrganizationName("local-ai-workbench")
    settings = make_settings()
    apply_theme(app, str(settings.value(THEME_KEY, "system")))  # type: ignore[attr-defined]
    follow_system(app, lambda: settings.value(THEME_KEY, "system"))  # type: ignore[attr-defined]
    context = AppContext(settings=settings)  # type: ignore[arg-type]
    window = MainWindow(context, page, freeze_gc=True)
    if startup_probe:
        window.first_painted.connect(lambda: _report_startup(window))
    window.show()
    return int(app.exec())


def _report_startup(window: object) -> None:
    """Print when the window was first drawn and which heavy modules are loaded, then close it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMainWindow

    assert isinstance(window, QMainWindow)
    shown = time.perf_counter() - _T0
    heavy = sorted(name for name in HEAVY_MODULES if name in sys.modules)
    sys.stdout.write(json.dumps({"shown_after_import_s": shown, "heavy_modules": heavy,
                                 "platform": os.environ.get("QT_QPA_PLATFORM", "")}) + "\n")
    sys.stdout.flush()
    # Let the first page build too (it must not pull in heavy libraries either), then quit.
    QTimer.singleShot(300, window, lambda: _close_after_page(window))


def _close_after_page(window: object) -> None:
    from PySide6.QtWidgets import QMainWindow

    assert isinstance(window, QMainWindow)
    heavy = sorted(name for name in HEAVY_MODULES if name in sys.modules)
    if heavy:
        sys.stdout.write(json.dumps({"heavy_modules_after_first_page": heavy}) + "\n")
    window.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ui.app [--page P] [--startup-probe]``."""
    parser = argparse.ArgumentParser(prog="python -m ui.app")
    parser.add_argument("--page")
    parser.add_argument("--startup-probe", action="store_true",
                        help="print when the window is shown and which heavy modules are loaded, then quit")
    args = parser.parse_args(argv)
    return run_gui(args.page, startup_probe=args.startup_probe)


if __name__ == "__main__":
    sys.exit(main())
