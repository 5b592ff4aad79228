"""One small real comparison on this machine's CPU, shared by the comparison tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.compare.events import CompareEvent
from app.compare.runner import CompareRunner
from app.history import History
from tests.app.compare.compare_support import SMALL, SmallRun


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallRun]:
    """Run SMALL once per test session (about a minute on 2 cores) and keep its history open."""
    history = History(Path(tmp_path_factory.mktemp("compare")) / "history.db")
    events: list[CompareEvent] = []
    runner = CompareRunner(SMALL, history, on_event=events.append)
    session = runner.run()
    yield SmallRun(session, history, events)
    history.close()
