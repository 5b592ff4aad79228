"""The ``workbench`` launcher: no display means advice rather than a failure; ``--version`` names the libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("PySide6", "torch", "torchvision", "llama_cpp", "onnxruntime", "pgmpy", "pyagrum", "ray")


def _headless_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["WORKBENCH_HOME"] = str(tmp_path)
    return env


def _launch(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # In a fresh interpreter, so sys.modules shows what the launcher itself imported.
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_headless_env(tmp_path), capture_output=True,
                          text=True, timeout=120)


def _probe(args: list[str]) -> str:
    return ("import json, sys\nfrom ui.launcher import main\n"
            f"code = main({args!r})\n"
            f"print(json.dumps({{'code': code, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
def test_workbench_without_a_display_says_how_to_get_the_gui(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ui.launcher"], cwd=ROOT, env=_headless_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("workbench: no display here (DISPLAY and WAYLAND_DISPLAY are unset)")
    assert "xvfb-run -a workbench" in out and "desktop session" in out and "ssh -X" in out
    assert "workbench demo" in out and "workbench --help" in out
    assert result.stderr == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
def test_the_advice_opens_no_qt_and_no_engine(tmp_path: Path) -> None:
    result = _launch(_probe([]), tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"code": 0, "heavy": []}


def test_version_lists_the_engines_libraries_without_importing_them(tmp_path: Path) -> None:
    result = _launch(_probe(["--version"]), tmp_path)
    assert result.returncode == 0, result.stderr
    *lines, last = result.stdout.splitlines()
    assert json.loads(last) == {"code": 0, "heavy": []}
    from app import __version__

    assert lines[0] == f"workbench {__version__}"
    assert lines[1].startswith(f"Python {sys.version.split()[0]} (")
    shown = {line.split()[0]: line.split()[1] for line in lines[2:]}
    for label, distribution in (("llama-cpp-python", "llama-cpp-python"), ("torch", "torch"),
                                ("torchvision", "torchvision"), ("onnxruntime", "onnxruntime"),
                                ("PySide6", "PySide6-Essentials"), ("pgmpy", "pgmpy"), ("pyagrum", "pyagrum")):
        assert shown[label] == metadata.version(distribution), label


def test_version_through_the_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("workbench")
    result = subprocess.run([str(script), "--version"], env=_headless_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"llama-cpp-python  {metadata.version('llama-cpp-python')}" in result.stdout.splitlines()
