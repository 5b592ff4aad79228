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

import sys
from typing import Any

from screen_session import ROOT, open_window, pump, shoot, start_app

SIZE = (1600, 1000)


def main(pages: list[str]) -> int:
    """Capture the pages named (default: all three); returns 0."""
    pages = pages or ["classify", "bayes", "compare"]
    start_app()
    from app.compare.plan import CompareSettings

    window, context = open_window("bayes", SIZE, {"classify/backend": "onnxruntime", "classify/batch": 2})
    pump(4, lambda: context.devices)

    if "classify" in pages:
        _classify(window)
    if "bayes" in pages:
        _bayes(window)
    if "compare" in pages:
        _compare(window, CompareSettings)
    window.close()
    return 0


def _classify(window: Any) -> None:
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
    shoot(window, "classify", 0.8)


def _bayes(window: Any) -> None:
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
    shoot(window, "bayes", 0.8)


def _compare(window: Any, settings_type: Any) -> None:
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
    shoot(window, "compare", 0.8)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
