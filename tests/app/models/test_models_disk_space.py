"""Disk space while pulling: a disk that fills up mid-transfer, pulls in flight counted against each other,
the ledger of pulls in flight (issue 21, item 1).

The full-disk scenarios run real ``workbench models pull`` processes on a small tmpfs mounted in a private
mount namespace (``unshare``); they are skipped, with the reason, where no such namespace can be made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fake_hub_server import FakeFile, FakeHub, Fault, tiny_gguf

from app.models import in_flight
from app.models.errors import ModelError, Reason

MiB = 1024 * 1024
DRIVER = Path(__file__).with_name("small_fs_driver.py")


@cache
def _namespace_problem() -> str | None:
    """Why a small filesystem cannot be made here (None: it can)."""
    if sys.platform != "linux" or shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs Linux with unshare(1) and mount(8)"
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=1m probe /mnt || "
                            "mount -t tmpfs -o size=1m probe /tmp"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"cannot mount a small tmpfs in a user+mount namespace: {probe.stderr.strip()[:200]}"
    return None


def _run_driver(tmp_path: Path, size: str, scenario: str, config: dict[str, Any]) -> dict[str, Any]:
    problem = _namespace_problem()
    if problem:
        pytest.skip(problem)
    config = {"home": str(tmp_path / "home"), **config}
    result = subprocess.run(["unshare", "-Urm", sys.executable, str(DRIVER), str(tmp_path / "small"), size,
                             scenario, json.dumps(config)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_disk_filling_up_mid_pull_stops_cleanly_and_resumes(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = tiny_gguf(padding=12 * MiB)
    fake_hub.add_repo("org/Filling-GGUF", {"filling-Q4_K_M.gguf": data})
    fake_hub.add_fault(Fault("/blobs/", chunk_delay_s=0.01))  # slow enough for the filler to strike mid-way
    result = _run_driver(tmp_path, "96m", "fill_during_pull", {
        "endpoint": fake_hub.url, "repo": "org/Filling-GGUF", "file": "filling-Q4_K_M.gguf",
        "fill_at": 3 * MiB + 200 * 1024, "leave": 0})

    first = result["first"]
    assert first["rc"] == 1 and "Traceback" not in first["stderr"], first["stderr"]
    error = first["stderr"].strip().splitlines()[-1]
    assert error.startswith("error: the disk holding") and ("is full" in error or "is filling up" in error)
    assert "kept" in error and "run the same pull again to resume" in error
    # The verified prefix is kept, byte for byte, and nothing past it.
    kept = result["kept_size"]
    assert 3 * MiB <= kept < len(data)
    assert result["kept_sha256"] == hashlib.sha256(data[:kept]).hexdigest()

    second = result["second"]
    assert second["rc"] == 0, second["stderr"]
    assert "registered filling-q4_k_m" in second["stdout"] and "resumed after" in second["stdout"]


def test_the_spare_margin_is_rechecked_while_writing(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = tiny_gguf(padding=12 * MiB)
    fake_hub.add_repo("org/Margin-GGUF", {"margin-Q4_K_M.gguf": data})
    fake_hub.add_fault(Fault("/blobs/", chunk_delay_s=0.01))
    # Another program leaves 40 MiB free: the pull could finish, but would eat into the 64 MiB reserve.
    result = _run_driver(tmp_path, "96m", "fill_during_pull", {
        "endpoint": fake_hub.url, "repo": "org/Margin-GGUF", "file": "margin-Q4_K_M.gguf",
        "fill_at": 2 * MiB, "leave": 40 * MiB})
    first = result["first"]
    assert first["rc"] == 1 and "Traceback" not in first["stderr"], first["stderr"]
    assert "is filling up" in first["stderr"] and "keeping 64.0 MiB spare" in first["stderr"]
    assert result["kept_sha256"] == hashlib.sha256(data[: result["kept_size"]]).hexdigest()
    assert result["second"]["rc"] == 0, result["second"]["stderr"]


def test_a_pull_in_flight_counts_against_the_next_one(fake_hub: FakeHub, tmp_path: Path) -> None:
    one, two = tiny_gguf(padding=12 * MiB, name="one"), tiny_gguf(padding=12 * MiB, name="two")
    fake_hub.add_repo("org/One-GGUF", {"one-Q4_K_M.gguf": one})
    fake_hub.add_repo("org/Two-GGUF", {"two-Q4_K_M.gguf": FakeFile(two)})
    # The first pull takes ~8 s: still in flight while the second starts up and checks the disk.
    fake_hub.add_fault(Fault(f"/blobs/{hashlib.sha256(one).hexdigest()}", chunk_delay_s=0.04))
    # 88 MiB: either pull fits alone (12 + 64 spare), both together do not (12 + 12 + 64).
    result = _run_driver(tmp_path, "88m", "two_pulls", {
        "endpoint": fake_hub.url, "repos": ["org/One-GGUF", "org/Two-GGUF"],
        "files": ["one-Q4_K_M.gguf", "two-Q4_K_M.gguf"]})
    assert result["first_running_when_second_done"]
    second = result["second"]
    assert second["rc"] == 1 and "Traceback" not in second["stderr"], second["stderr"]
    assert "not enough disk space" in second["stderr"] and "1 other pull(s) in flight" in second["stderr"]
    assert result["first"]["rc"] == 0, result["first"]["stderr"]
    assert result["free_after"] >= in_flight.DISK_RESERVE_BYTES


def _entry(pid: int, started: float, device: int, remaining: int) -> dict[str, Any]:
    return {"key": f"{pid}-test", "pid": pid, "started": started, "device": device, "remaining": remaining,
            "what": "test.gguf"}


def test_the_ledger_ignores_dead_and_reused_pids(home: Path, tmp_path: Path) -> None:
    import psutil

    device = os.stat(tmp_path).st_dev
    huge = 2**60
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(alive.pid).create_time()
        path = in_flight.ledger_path()
        # A crashed pull, and a live process whose start time says it is not the pull that wrote the entry.
        path.write_text(json.dumps({"pulls": [_entry(dead.pid, started, device, huge),
                                              _entry(alive.pid, started - 100, device, huge)]}))
        in_flight.ensure_disk_space(tmp_path, 1, "small.gguf")  # neither counts
        assert json.loads(path.read_text())["pulls"] == []  # and both were dropped

        path.write_text(json.dumps({"pulls": [_entry(alive.pid, started, device, huge)]}))
        with pytest.raises(ModelError) as error:
            in_flight.ensure_disk_space(tmp_path, 1, "small.gguf")
        assert error.value.reason is Reason.DISK_SPACE and "1 other pull(s) in flight" in error.value.message
        # Another filesystem's pulls do not count here.
        path.write_text(json.dumps({"pulls": [_entry(alive.pid, started, device + 1, huge)]}))
        in_flight.ensure_disk_space(tmp_path, 1, "small.gguf")
    finally:
        alive.kill()
        alive.wait()


def test_a_reservation_is_held_while_pulling_and_released_after(home: Path, tmp_path: Path) -> None:
    with in_flight.reserve(tmp_path, 5 * MiB, "a.gguf") as reservation:
        entries = json.loads(in_flight.ledger_path().read_text())["pulls"]
        assert [(e["pid"], e["remaining"]) for e in entries] == [(os.getpid(), 5 * MiB)]
        reservation.update(MiB, force=True)
        assert json.loads(in_flight.ledger_path().read_text())["pulls"][0]["remaining"] == MiB
    assert json.loads(in_flight.ledger_path().read_text())["pulls"] == []
