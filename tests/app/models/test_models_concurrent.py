"""Two pulls of the same file at once: one registration, one snapshot link, no crash (issue 21, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from fake_hub_server import FakeHub, tiny_gguf

from app.history import History
from app.models.hf_cache import link_pointer
from app.models.records import ModelRecord
from app.models.registry import Registry

REPO = "org/Shared-GGUF"
FILE = "shared-Q4_K_M.gguf"
TRIALS = 6


def test_concurrent_pulls_of_a_downloaded_unregistered_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_repo(REPO, {FILE: tiny_gguf(padding=256 * 1024)})
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": fake_hub.url, "HOME": str(tmp_path), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)
    command = [sys.executable, "-m", "app.cli", "models"]
    root = Path(__file__).parents[3]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=90, cwd=root)

    # Downloaded once, then unregistered with its files kept: what another tool's download looks like.
    first = run("pull", REPO, FILE)
    assert first.returncode == 0, first.stderr
    failures = []
    for trial in range(TRIALS):
        assert run("rm", "shared-q4_k_m", "--keep-files").returncode == 0
        both = [subprocess.Popen([*command, "pull", REPO, FILE], env=env, cwd=root, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        for process in both:
            _, err = process.communicate(timeout=90)
            if process.returncode != 0 or "Traceback" in err:
                failures.append(f"trial {trial}: exit {process.returncode}: {err.strip()[-600:]}")
    assert failures == []
    listing = run("list", "--json")
    import json

    pulled = [r for r in json.loads(listing.stdout) if r["repo"] == REPO]
    assert [r["id"] for r in pulled] == ["shared-q4_k_m"] and pulled[0]["status"] == "ok"


def test_registry_add_from_two_connections_at_once_is_an_upsert(home: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(tiny_gguf())
    History(home / "workbench.db").close()  # the schema first: concurrent first starts are another matter
    errors: list[BaseException] = []
    results: list[tuple[str, bool]] = []

    def register(barrier: threading.Barrier) -> None:
        history = History(home / "workbench.db")
        try:
            registry = Registry(history)
            for n in range(40):
                barrier.wait(timeout=30)
                record = ModelRecord(id=f"race-{n}", kind="llm", format="gguf", path=str(model.parent / f"{n}"),
                                     source="import", size_bytes=n)
                stored, created = registry.add(record)
                results.append((stored.id, created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            history.close()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=register, args=(barrier,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    # Each path registered once (one "created"), under one id, by whichever connection came first.
    assert sorted(results) == sorted([(f"race-{n}", True) for n in range(40)] + [(f"race-{n}", False)
                                                                                for n in range(40)])


def test_link_pointer_from_many_threads_at_once_never_fails(tmp_path: Path) -> None:
    blob = tmp_path / "blobs" / "abc"
    blob.parent.mkdir()
    blob.write_bytes(b"weights")
    pointer = tmp_path / "snapshots" / ("0" * 40) / "model.gguf"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def link() -> None:
        try:
            for _ in range(200):
                barrier.wait(timeout=30)
                link_pointer(blob, pointer)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=link) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert pointer.is_symlink() and pointer.read_bytes() == b"weights"
    assert sorted(p.name for p in pointer.parent.iterdir()) == ["model.gguf"]  # no temporary left behind
