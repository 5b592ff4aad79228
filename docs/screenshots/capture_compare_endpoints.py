"""The Compare page with endpoint rows and the serving charts, from a ``workbench compare --endpoints … --json``
export (imported into a fresh data folder, so nothing is re-measured).

    xvfb-run -s "-screen 0 1700x1100x24" .venv/bin/python docs/screenshots/capture_compare_endpoints.py FILE.json

Writes ``compare-endpoints.png`` (the table and the latency–throughput curve) beside this script.
"""

from __future__ import annotations

import sys
from typing import Any

from screen_session import open_window, pump, shoot, start_app

SIZE = (1600, 1000)


def main() -> int:
    """Import the export on the Compare page and capture it; returns 0."""
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    app = start_app()
    window, context = open_window("compare", SIZE)
    compare: Any = window.open_page("compare")
    done: list[int] = []
    compare.imported.connect(done.append)
    compare.import_files([sys.argv[1]])
    pump(20, lambda: bool(done))
    compare.charts.setCurrentIndex(3)  # "Serving (endpoints)": the latency–throughput curve
    shoot(window, "compare-endpoints", 1.0)
    window.close()
    context.shutdown()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
