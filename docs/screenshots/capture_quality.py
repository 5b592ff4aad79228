"""Screenshot of the Compare page's speed x quality chart from a stored comparison (run under Xvfb/offscreen).

    WORKBENCH_HOME=<folder with a comparison> .venv/bin/python docs/screenshots/capture_quality.py SESSION

The comparison is a real ``workbench compare --workload llm --quantize Q8_0,Q4_0`` run stored in that data
folder's history; the page opens it, shows the "Speed × quality" tab, and the window is saved as
``compare-pareto.png`` beside this script.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(argv: list[str]) -> int:
    """Open the session on the Compare page and save the window."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication, QTabWidget

    from ui.app import make_settings
    from ui.context import AppContext
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")

    def pump(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)

    context = AppContext(settings=make_settings())  # type: ignore[arg-type]
    window = MainWindow(context, page="compare")
    window.resize(1400, 880)
    window.show()
    page = window.open_page("compare")
    page.open_sessions([argv[0]])  # type: ignore[attr-defined]
    pump(5)
    charts = page.charts  # type: ignore[attr-defined]
    charts.setCurrentIndex(1)  # "By configuration"
    inner = charts.widget(1).findChild(QTabWidget)
    inner.setCurrentIndex(inner.count() - 1)  # "Speed × quality"
    pump(1.5)
    window.grab().save(str(HERE / "compare-pareto.png"))
    sys.stdout.write(f"saved {HERE / 'compare-pareto.png'}\n")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
