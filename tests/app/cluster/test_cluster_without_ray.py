"""The app without Ray: cluster commands say how to install it; nothing else notices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# `sys.modules['ray'] = None` makes `import ray` fail exactly as it does where Ray is not installed.
WITHOUT_RAY = "import sys\nsys.modules['ray'] = None\nfrom app.cli import main\n"


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "WORKBENCH_HOME": str(tmp_path), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", WITHOUT_RAY + code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)


def test_cluster_commands_explain_the_missing_extra(tmp_path: Path) -> None:
    done = _run("sys.exit(main(['cluster', 'status']))", tmp_path)
    assert done.returncode == 1
    assert "Ray is not installed" in done.stderr and "local-ai-workbench[cluster]" in done.stderr


def test_remote_devices_are_recognised_without_ray(tmp_path: Path) -> None:
    done = _run("from app.cluster import is_remote_device, ray_available\n"
                "print(is_remote_device('n1/cpu'), is_remote_device('cuda:0'), ray_available())", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]


@pytest.mark.parametrize("command", [["cluster", "--help"], ["devices", "--help"]])
def test_the_cli_builds_without_ray(command: list[str], tmp_path: Path) -> None:
    done = _run(f"sys.exit(main({command!r}))", tmp_path)
    assert done.returncode == 0, done.stderr
