"""``workbench cluster start-head`` / ``status`` for real: ``ray start`` with our defaults, then a client."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def head_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment of its own (data folder, Ray temp folder); the head's processes are killed by pid after."""
    ray_tmp = tempfile.mkdtemp(prefix="wbray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({"WORKBENCH_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), "RAY_TMPDIR": ray_tmp,
                "RAY_USAGE_STATS_ENABLED": "0"})
    yield env
    # Never `ray stop`: it would end every Ray process of this user. Only what runs from this temp folder.
    # The raylet's helpers rename themselves (ray::DashboardAgent): they are found as its children.
    started = [p for p in psutil.process_iter(["cmdline"]) if ray_tmp in " ".join(p.info["cmdline"] or [])]
    mine = {p.pid: p for p in started}
    for process in started:
        with contextlib.suppress(psutil.Error):
            mine.update({child.pid: child for child in process.children(recursive=True)})
    for process in mine.values():
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(list(mine.values()), timeout=20)
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "cluster", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout, check=False)


def test_start_head_then_status_with_token_auth_and_the_dashboard_off(head_env: dict[str, str]) -> None:
    port = _free_port()
    started = _cli(head_env, "start-head", "--port", str(port), "--name", "desk", "--num-cpus", "1",
                   "--object-store-mb", "100")
    assert started.returncode == 0, started.stderr[-2000:]
    token_file = Path(head_env["WORKBENCH_HOME"]) / "cluster" / "auth_token"
    token = token_file.read_text()
    assert len(token) == 64 and oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert f"join 127.0.0.1:{port} --token {token}" in started.stdout

    status = _cli(head_env, "status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    [node] = json.loads(status.stdout)
    assert node["name"] == "desk" and node["head"] and node["cpus"] == 1.0 and "desk/cpu" in node["devices"]

    processes = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
                 if head_env["RAY_TMPDIR"] in " ".join(p.info["cmdline"] or [])]
    assert any("gcs_server" in c for c in processes) and any("raylet" in c for c in processes)
    # Ray keeps a head process under the dashboard's name; with the dashboard off it loads no job-submission
    # module and serves no web UI.
    for command in (c for c in processes if "dashboard/dashboard.py" in c):
        assert "--modules-to-load=UsageStatsHead" in command and "--disable-frontend" in command

    # A client holding another token is turned away by the head we started.
    intruder = {**head_env, "WORKBENCH_HOME": str(Path(head_env["HOME"]) / "intruder")}
    t0 = time.monotonic()
    refused = _cli(intruder, "connect", f"127.0.0.1:{port}", "--token", "f" * 64)
    assert refused.returncode == 1 and "cannot connect" in refused.stderr, refused.stdout + refused.stderr
    assert time.monotonic() - t0 < 180
