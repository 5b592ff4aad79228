"""What the screenshot scripts share: a fresh data folder, the app in the light theme, an event pump, a grab.

Imports of the app and Qt happen inside the functions: ``start_app`` first puts the repository on
``sys.path`` (the scripts are run by path, from anywhere).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def start_app(*, fresh_home: bool = True) -> Any:
    """The QApplication in the light theme; with ``fresh_home``, on a new empty data folder and settings file."""
    if fresh_home:
        home = tempfile.mkdtemp(prefix="workbench-screens-")
        os.environ["WORKBENCH_HOME"] = home
        os.environ["WORKBENCH_SETTINGS"] = str(Path(home) / "settings.ini")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Local AI Workbench")
    apply_theme(app, "light")
    return app


def pump(seconds: float, until: Callable[[], object] | None = None) -> None:
    """Run the Qt event loop for ``seconds``, or until ``until()`` is true."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
        if until is not None and until():
            return


def open_window(page: str, size: tuple[int, int], settings_values: dict[str, object] | None = None,
                ) -> tuple[Any, Any]:
    """The main window on ``page`` at ``size``, shown, and its AppContext (settings from the environment)."""
    from ui.app import make_settings
    from ui.context import AppContext
    from ui.main_window import MainWindow

    settings = make_settings()
    for key, value in (settings_values or {}).items():
        settings.setValue(key, value)
    context = AppContext(settings=settings)  # type: ignore[arg-type]
    window = MainWindow(context, page=page)
    window.resize(*size)
    window.show()
    return window, context


def shoot(window: Any, name: str, settle: float = 0.6) -> None:
    """Let the window settle, then save it as ``<name>.png`` beside these scripts."""
    pump(settle)
    window.grab().save(str(HERE / f"{name}.png"))
    sys.stdout.write(f"saved {name}\n")
