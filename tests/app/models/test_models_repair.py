"""A cached file damaged on disk: shown as damaged, named by ``pull``, fixed by ``pull --repair``
(issue 21, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub_server import FakeHub, tiny_gguf

from app.models.api import ModelManager
from app.models.download import DownloadProgress
from app.models.errors import ModelError, Reason

REPO = "org/Fragile-GGUF"
FILE = "fragile-Q4_K_M.gguf"


def _pull(fake_hub: FakeHub, manager: ModelManager) -> tuple[bytes, Path]:
    data = tiny_gguf(padding=1024 * 1024)
    fake_hub.add_repo(REPO, {FILE: data})
    record = manager.pull(REPO, FILE).record
    return data, Path(record.path).resolve()


def test_a_flipped_byte_is_named_by_pull_marked_damaged_and_repaired(fake_hub: FakeHub,
                                                                     manager: ModelManager) -> None:
    data, blob = _pull(fake_hub, manager)
    record = manager.get("fragile-q4_k_m")
    assert record is not None and manager.health(record).status == "ok"
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x01  # same size: only a hash can tell
    blob.write_bytes(bytes(damaged))
    assert manager.health(record).status == "ok"  # the quick check cannot see it ...
    deep = manager.health(record, deep=True)  # ... the SHA-256 can, and the registry remembers it
    assert deep.status == "damaged" and "SHA-256" in deep.problem
    record = manager.get("fragile-q4_k_m")
    assert record is not None and manager.health(record).status == "damaged"

    with pytest.raises(ModelError) as error:
        manager.pull(REPO, FILE)
    assert error.value.reason is Reason.DAMAGED and "--repair" in error.value.message
    assert blob.read_bytes() == bytes(damaged)  # nothing deleted without being asked

    gets = len(fake_hub.requests_to("cdn", "GET"))
    seen: list[DownloadProgress] = []
    repaired = manager.pull(REPO, FILE, repair=True, on_progress=seen.append).record
    assert blob.read_bytes() == data and len(fake_hub.requests_to("cdn", "GET")) == gets + 1
    assert any(p.phase == "notice" and "downloading it again" in p.message for p in seen)
    assert "damaged" not in repaired.meta and manager.health(repaired, deep=True).status == "ok"


def test_a_truncated_cached_file_shows_as_damaged_and_pull_marks_it(fake_hub: FakeHub,
                                                                    manager: ModelManager) -> None:
    data, blob = _pull(fake_hub, manager)
    blob.write_bytes(data[: len(data) // 2])
    record = manager.get("fragile-q4_k_m")
    assert record is not None
    health = manager.health(record)
    assert health.status == "damaged" and "when registered" in health.problem


def test_models_list_shows_damaged_models_with_the_fix(fake_hub: FakeHub, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = tiny_gguf(padding=512 * 1024)
    fake_hub.add_repo(REPO, {FILE: data})
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": fake_hub.url, "HOME": str(tmp_path)}
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "models", *args], env=env, capture_output=True,
                              text=True, timeout=60, cwd=Path(__file__).parents[3])

    assert cli("pull", REPO, FILE).returncode == 0
    blob = next((tmp_path / "hf" / "hub" / "models--org--Fragile-GGUF" / "blobs").iterdir())
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))

    listing = cli("list", "--verify")
    assert listing.returncode == 0, listing.stderr
    line = next(row for row in listing.stdout.splitlines() if row.startswith("fragile-q4_k_m"))
    assert "DAMAGED" in line
    assert "fix: workbench models pull fragile-q4_k_m --repair" in listing.stderr

    pull = cli("pull", REPO, FILE)
    assert pull.returncode == 1 and "--repair" in pull.stderr and "Traceback" not in pull.stderr
    repaired = cli("pull", "fragile-q4_k_m", "--repair")  # the id stands for its repository file
    assert repaired.returncode == 0, repaired.stderr
    assert "downloading it again" in repaired.stderr and blob.read_bytes() == data
    line = next(row for row in cli("list").stdout.splitlines() if row.startswith("fragile-q4_k_m"))
    assert "DAMAGED" not in line
