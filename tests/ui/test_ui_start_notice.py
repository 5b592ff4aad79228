"""The window starts on a damaged history or an unusable data folder and says so in a banner."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from ui.context import AppContext
from ui.main_window import MainWindow


def _window(qtbot: QtBot, folder: Path) -> MainWindow:
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(AppContext(settings=settings), page="settings")
    qtbot.addWidget(window)
    window.show()
    return window


def test_a_damaged_history_is_moved_aside_and_the_window_says_so(qtbot: QtBot, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "workbench.db").write_bytes(b"<html>not a database</html>" * 200)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    window = _window(qtbot, tmp_path)
    try:
        assert window.notice.isVisible()
        text = window.notice_label.text()
        assert "workbench.db" in text and window.context.notices
        assert window.context.history.unrecorded is None  # a fresh history records again
        assert [p for p in home.iterdir() if p.name.startswith("workbench.db") and p.name != "workbench.db"]
    finally:
        window.shutdown()


def test_a_data_folder_that_is_a_file_starts_unrecorded_with_a_banner(qtbot: QtBot, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("WORKBENCH_HOME", str(not_a_folder))
    window = _window(qtbot, tmp_path)
    try:
        assert window.notice.isVisible()
        assert "runs will not be recorded" in window.notice_label.text()
        assert window.context.history.unrecorded
    finally:
        window.shutdown()


def test_a_healthy_start_shows_no_banner(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "fine"))
    window = _window(qtbot, tmp_path)
    try:
        assert not window.notice.isVisible() and window.context.notices == []
    finally:
        window.shutdown()
