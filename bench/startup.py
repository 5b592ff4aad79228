"""How fast the desktop window appears, against a bare Qt window measured in the same run.

Each launch is a fresh process, timed from launch until the window is on screen and painted (the app's
``--startup-probe`` prints when that happened and which heavy libraries were imported, then quits). The
reference is an empty QMainWindow in the same Qt, so machine load shows in both numbers and the ratio
stays meaningful on a shared machine. Uses the real display when there is one, else ``offscreen``.

    .venv/bin/python bench/startup.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 2.0
BARE = """
import json, time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.resize(1280, 820)
window.show()
while not (window.windowHandle() and window.windowHandle().isExposed()):
    app.processEvents()
window.repaint()
print(json.dumps({"shown_after_import_s": time.perf_counter() - t0, "heavy_modules": []}))
"""


def _launch(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    report: dict[str, object] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            report.update(json.loads(line))
    if done.returncode != 0 or "shown_after_import_s" not in report:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return report


def interpreter_start_s() -> float:
    """Seconds for this Python to start and exit doing nothing (best of three)."""
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append(time.perf_counter() - started)
    return min(samples)


def measure(runs: int) -> dict[str, object]:
    """Launch the bare window and the app ``runs`` times each, interleaved.

    A launch's time is the interpreter's start-up plus what the process measured from its first import to
    the painted window (the process then takes a moment to exit, which the user does not wait for).
    """
    with tempfile.TemporaryDirectory(prefix="workbench-startup-") as home:
        env = {**os.environ, "WORKBENCH_HOME": home, "WORKBENCH_SETTINGS": str(Path(home) / "settings.ini"),
               "OMP_WAIT_POLICY": "PASSIVE"}
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        app_command = [sys.executable, "-m", "ui.app", "--startup-probe"]
        _launch(app_command, env)  # first launch: warms the file cache and creates the database
        python = interpreter_start_s()
        bare: list[float] = []
        app: list[float] = []
        heavy: set[str] = set()
        for _ in range(runs):
            bare.append(python + float(_launch([sys.executable, "-c", BARE], env)["shown_after_import_s"]))  # type: ignore[arg-type]
            report = _launch(app_command, env)
            app.append(python + float(report["shown_after_import_s"]))  # type: ignore[arg-type]
            heavy.update(report["heavy_modules"])  # type: ignore[arg-type]
            heavy.update(report.get("heavy_modules_after_first_page", []))  # type: ignore[arg-type]
        return {"runs": runs, "platform": env.get("QT_QPA_PLATFORM", "display"), "interpreter_s": python,
                "bare_s": bare, "app_s": app, "heavy_modules": sorted(heavy)}


def main() -> int:
    """Measure, print the table and the verdict; exit 1 when the window is too slow or imports heavy code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    result = measure(args.runs)
    bare, app = result["bare_s"], result["app_s"]
    assert isinstance(bare, list) and isinstance(app, list)
    ratio = statistics.median(app) / statistics.median(bare)
    print(f"platform: {result['platform']}, {args.runs} launches each, times from launch to painted window")
    print(f"{'':24}{'median':>10}{'best':>10}{'worst':>10}")
    print(f"{'bare Qt window':24}{statistics.median(bare):>9.2f}s{min(bare):>9.2f}s{max(bare):>9.2f}s")
    print(f"{'workbench window':24}{statistics.median(app):>9.2f}s{min(app):>9.2f}s{max(app):>9.2f}s")
    print(f"ratio workbench / bare Qt (median): {ratio:.2f}x")
    print(f"heavy libraries imported at start-up: {', '.join(result['heavy_modules']) or 'none'}")  # type: ignore[arg-type]
    ok = statistics.median(app) < LIMIT_S and not result["heavy_modules"]
    print(f"verdict: {'PASS' if ok else 'FAIL'} (limit {LIMIT_S:.1f} s, no torch/llama_cpp/onnxruntime/...)")
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "ratio_median": ratio, "pass": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
