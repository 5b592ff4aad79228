"""Worker logs in the data folder: a worker that wrote nothing leaves no empty file; crash output is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.discovery import register_spec, unregister_spec
from app.errors import EngineDeadError
from app.supervisor import WorkerClient
from tests.support.echo_engine import SPEC


@pytest.fixture(autouse=True)
def _echo_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    register_spec(SPEC)
    yield
    unregister_spec(SPEC.id)


def test_a_quiet_worker_leaves_no_empty_log(tmp_path: Path) -> None:
    client = WorkerClient(SPEC)
    log = Path(client.stderr_path)
    assert log.is_relative_to(tmp_path)
    client.load("m1")
    assert client.call("pid")["pid"] == client.pid
    client.close()
    assert not log.exists()


def test_a_crashed_worker_keeps_its_log_with_the_output(tmp_path: Path) -> None:
    client = WorkerClient(SPEC)
    log = Path(client.stderr_path)
    try:
        client.load("m1")
        with pytest.raises(EngineDeadError):
            client.call("crash", timeout=30)
    finally:
        client.close()
    assert log.is_file() and "crashing now" in log.read_text()
