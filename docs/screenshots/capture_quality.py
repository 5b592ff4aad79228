"""Screenshot of the Compare page's speed x quality chart from a stored comparison (run under Xvfb/offscreen).

    WORKBENCH_HOME=<folder with a comparison> .venv/bin/python docs/screenshots/capture_quality.py SESSION

The comparison is a real ``workbench compare --workload llm --quantize Q8_0,Q4_0`` run stored in that data
folder's history; the page opens it, shows the "Speed × quality" tab, and the window is saved as
``compare-pareto.png`` beside this script.
"""

from __future__ import annotations

import sys

from screen_session import open_window, pump, shoot, start_app


def main(argv: list[str]) -> int:
    """Open the session on the Compare page and save the window."""
    start_app(fresh_home=False)  # the data folder named by WORKBENCH_HOME holds the comparison
    from PySide6.QtWidgets import QTabWidget

    window, _context = open_window("compare", (1400, 880))
    page = window.open_page("compare")
    page.open_sessions([argv[0]])  # type: ignore[attr-defined]
    pump(5)
    charts = page.charts  # type: ignore[attr-defined]
    charts.setCurrentIndex(1)  # "By configuration"
    inner = charts.widget(1).findChild(QTabWidget)
    inner.setCurrentIndex(inner.count() - 1)  # "Speed × quality"
    shoot(window, "compare-pareto", 1.5)
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
