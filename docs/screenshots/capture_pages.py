"""Screenshots of the Classify, Bayes and Compare pages from the real app with real engines (under Xvfb).

    xvfb-run -s "-screen 0 1700x1100x24" .venv/bin/python docs/screenshots/capture_pages.py [classify bayes compare]

A fresh data folder; the window at 1600x1000 in the light theme:

* ``classify.png``: two images classified, then a second pick added with "Keep earlier results"; the
  labelled progress bar and the summary that says what latency adds up;
* ``bayes.png``: alarm with evidence at the Fit zoom (state names and percentages readable, the zoom hint
  at the bottom) and the value-of-information ranking with whole headers;
* ``compare.png``: a vision comparison of {torch, onnxruntime} x {fp32, int8}: three measured, and the
  skipped torch int8 row says why.
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
SIZE = (1600, 1000)


def main(pages: list[str]) -> int:
    """Capture the pages named (default: all three); returns 0."""
    pages = pages or ["classify", "bayes", "compare"]
    home = tempfile.mkdtemp(prefix="workbench-screens-")
    os.environ["WORKBENCH_HOME"] = home
    os.environ["WORKBENCH_SETTINGS"] = str(Path(home) / "settings.ini")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from app.compare.plan import CompareSettings
    from ui.app import make_settings
    from ui.context import AppContext
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Local AI Workbench")
    apply_theme(app, "light")

    def pump(seconds: float, until: Callable[[], object] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
            if until is not None and until():
                return

    def shoot(window: MainWindow, name: str) -> None:
        pump(0.8)
        window.grab().save(str(HERE / f"{name}.png"))
        sys.stdout.write(f"saved {name}\n")

    settings = make_settings()
    settings.setValue("classify/backend", "onnxruntime")
    settings.setValue("classify/batch", 2)
    context = AppContext(settings=settings)  # type: ignore[arg-type]
    window = MainWindow(context, page="bayes")
    window.resize(*SIZE)
    window.show()
    pump(4, lambda: context.devices)

    if "classify" in pages:
        _classify(window, pump, shoot)
    if "bayes" in pages:
        _bayes(window, pump, shoot)
    if "compare" in pages:
        _compare(window, pump, shoot, CompareSettings)
    window.close()
    return 0


def _classify(window: Any, pump: Callable[..., None], shoot: Callable[[Any, str], None]) -> None:
    images = sorted(str(p) for p in (ROOT / "resources" / "images").glob("*.jpg"))
    classify: Any = window.open_page("classify")
    done: list[str] = []
    classify.run_finished.connect(lambda op, status: done.append(f"{op}:{status}"))
    classify.classify(images[:2])
    pump(240, lambda: "classify:ok" in done)
    classify.keep_results.setChecked(True)
    done.clear()
    classify.classify(images[2:])
    pump(240, lambda: "classify:ok" in done)
    pump(10, lambda: all(r.thumbnail is not None for r in classify.results.rows()))
    shoot(window, "classify")


def _bayes(window: Any, pump: Callable[..., None], shoot: Callable[[Any, str], None]) -> None:
    bayes: Any = window.open_page("bayes")
    pump(60, lambda: len(bayes.scene.nodes) == 37 and not bayes.is_busy)
    bayes.toggle_evidence("HYPOVOLEMIA", "TRUE")
    pump(20, lambda: not bayes.is_busy)
    bayes.toggle_evidence("CVP", "LOW")
    pump(20, lambda: not bayes.is_busy)
    bayes.panel.tabs.setCurrentIndex(bayes.panel.tabs.count() - 1)  # as a person does: the tab, then Rank
    pump(1)
    bayes.run_voi("LVFAILURE")
    pump(60, lambda: bayes.panel.voi_table.rowCount() > 0 and not bayes.is_busy)
    bayes.view.fit()
    shoot(window, "bayes")


def _compare(window: Any, pump: Callable[..., None], shoot: Callable[[Any, str], None], settings_type: Any) -> None:
    compare: Any = window.open_page("compare")
    compare.form.apply(settings_type(workloads=("vision",), devices=("cpu",),
                                       vision_backends=("torch", "onnxruntime"), vision_precisions=("fp32", "int8"),
                                       batch_sizes=(1, 2, 4), repeat=5, warmup=1))
    finished: list[str] = []
    compare.run_finished.connect(finished.append)
    compare.start()
    pump(600, lambda: finished)
    vision = compare.tables.tables["vision"]
    vision.selectRow(vision.rowCount() - 1)  # the skipped row: its reason shows under the table
    compare.charts.setCurrentIndex(2)  # throughput by batch size, the legend clear of the lines
    shoot(window, "compare")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
