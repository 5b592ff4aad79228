"""The ``workbench models`` commands, run as a user runs them (a subprocess pointed at the fake Hub)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub_server import FakeHub, tiny_gguf

SECRET = "hf_CliSecretToken0987654321"
RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_cli(fake_hub: FakeHub, tmp_path: Path) -> RunCli:
    """Run ``workbench models ...`` with its own home, HF cache and the fake Hub as HF_ENDPOINT."""
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": fake_hub.url, "HOME": str(tmp_path), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "models", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[3])

    return run


def test_search_files_pull_list_and_rm(fake_hub: FakeHub, run_cli: RunCli, tmp_path: Path) -> None:
    data = tiny_gguf(padding=2 * 1024 * 1024)
    fake_hub.add_repo("org/Tiny-GGUF", {"tiny-Q4_K_M.gguf": data, "tiny-Q8_0.gguf": tiny_gguf(file_type=7)},
                      tags=["gguf"], downloads=1234, likes=5)

    search = run_cli("search", "tiny")
    assert search.returncode == 0, search.stderr
    assert "org/Tiny-GGUF" in search.stdout and "1,234" in search.stdout

    files = run_cli("files", "org/Tiny-GGUF")
    assert files.returncode == 0, files.stderr
    q4_line = next(line for line in files.stdout.splitlines() if line.startswith("tiny-Q4_K_M.gguf"))
    assert "Q4_K_M" in q4_line and ("fits in RAM" in q4_line or "fits in VRAM" in q4_line)
    assert "4096-token context" in files.stdout

    assert run_cli("token", "set", stdin=SECRET + "\n").returncode == 0
    status = run_cli("token", "status")
    assert SECRET not in status.stdout and "hf_" in status.stdout

    pull = run_cli("pull", "org/Tiny-GGUF")
    assert pull.returncode == 0, pull.stderr
    assert "registered tiny-q4_k_m" in pull.stdout and "SHA-256 verified" in pull.stdout
    assert "done" in pull.stderr and SECRET not in pull.stdout + pull.stderr
    blobs = list((tmp_path / "hf" / "hub" / "models--org--Tiny-GGUF" / "blobs").iterdir())
    assert [b.stat().st_size for b in blobs] == [len(data)]  # into the shared HF_HOME cache

    listing = json.loads(run_cli("list", "--json").stdout)
    pulled = next(r for r in listing if r["id"] == "tiny-q4_k_m")
    assert (pulled["source"], pulled["quant"], pulled["repo"], pulled["exists"]) == ("hub", "Q4_K_M",
                                                                                     "org/Tiny-GGUF", True)
    assert any(r["source"] == "package" for r in listing)

    removed = run_cli("rm", "tiny-q4_k_m")
    assert removed.returncode == 0 and "freed 2.0 MiB" in removed.stdout
    assert list((tmp_path / "hf" / "hub" / "models--org--Tiny-GGUF" / "blobs").iterdir()) == []


def test_errors_exit_non_zero_with_one_clear_line(run_cli: RunCli) -> None:
    missing = run_cli("pull", "org/does-not-exist")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and "repository not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = run_cli("rm", "no-such-model")
    assert unknown.returncode == 1 and "no registered model" in unknown.stderr
