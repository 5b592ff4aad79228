"""The closing line of ``workbench classify``: "recorded as run" only when the history kept the run."""

from __future__ import annotations

from pathlib import Path

from app.commands.classify import recorded_line
from app.history import History


def test_a_run_the_history_kept_names_its_id(tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    try:
        line = recorded_line(history, "0123456789abcdef", hint=" (see history)")
    finally:
        history.close()
    assert line == "recorded as run 01234567 (see history)"


def test_a_run_that_could_not_be_recorded_says_not_recorded_and_why() -> None:
    history = History.in_memory("the data folder is read-only")
    try:
        line = recorded_line(history, "0123456789abcdef", "; reports: a.html", hint=" (see history)")
    finally:
        history.close()
    assert line == "not recorded (the data folder is read-only); reports: a.html"
    assert "recorded as run" not in line and "0123" not in line
