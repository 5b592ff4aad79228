"""The Compare page's serving charts (latency vs throughput, user vs system throughput) as PNGs, drawn by the
app's own chart widget from a ``workbench compare --endpoints … --json FILE`` export.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/capture_serving.py FILE.json \\
        [--out docs/serve-latency-throughput.png]

Writes OUT (the latency–throughput curve) and OUT with ``-users`` before its suffix (per-user vs system).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Draw both serving charts of the export's sessions; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve-latency-throughput.png")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.compare.results import CompareSession
    from ui.compare.serving_chart import ServingCharts

    app = QApplication.instance() or QApplication([])
    sessions = [CompareSession.from_dict(s) for s in json.loads(args.export.read_text())["sessions"]]
    charts = ServingCharts()
    charts.resize(1000, 620)
    charts.show_sessions(sessions)
    charts.show()
    for index, path in enumerate((args.out, args.out.with_name(f"{args.out.stem}-users{args.out.suffix}"))):
        charts.setCurrentIndex(index)
        app.processEvents()
        charts.currentWidget().grab().save(str(path))
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
