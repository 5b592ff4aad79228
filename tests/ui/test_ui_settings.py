"""The Settings page: theme, threads, Hub address, download folder, token, data folder, devices."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest
from gui_support import shown_page, wait_for
from PySide6.QtWidgets import QApplication

from ui.preferences import CACHE_KEY, ENDPOINT_KEY, THREADS_KEY, engine_threads
from ui.settings.page import SettingsPage
from ui.theme import THEME_KEY, apply_theme, is_dark


@pytest.fixture(scope="module")
def page(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SettingsPage]:
    """A Settings page on its own settings file."""
    with shown_page(SettingsPage, tmp_path_factory.mktemp("settings"), (900, 900)) as settings_page:
        yield settings_page
    apply_theme(qapp, "light")


def test_theme_switches_now_and_is_remembered(page: SettingsPage) -> None:
    page.theme.setCurrentIndex(page.theme.findData("dark"))
    assert is_dark() and page.settings.value(THEME_KEY) == "dark"
    page.theme.setCurrentIndex(page.theme.findData("light"))
    assert not is_dark() and page.settings.value(THEME_KEY) == "light"


def test_threads_endpoint_and_cache_are_stored(page: SettingsPage, tmp_path: object) -> None:
    assert engine_threads(page.settings) is None  # automatic
    page.threads.setValue(3)
    assert page.settings.value(THREADS_KEY) == 3 and engine_threads(page.settings) == 3
    page.threads.setValue(0)
    assert engine_threads(page.settings) is None
    page.endpoint.setText("http://127.0.0.1:8080")
    page.endpoint.editingFinished.emit()
    page.cache.setText(str(tmp_path))
    page.cache.editingFinished.emit()
    assert page.settings.value(ENDPOINT_KEY) == "http://127.0.0.1:8080"
    assert page.settings.value(CACHE_KEY) == str(tmp_path)
    assert "Saved" in page.last_message


def test_data_folder_and_default_threads_are_shown(page: SettingsPage) -> None:
    wait_for(lambda: page.facts, 20, "the data facts")
    assert page.facts["home"] in page.home_label.text() and "iB" in page.database_label.text()
    assert "automatic = " in page.threads_note.text()


def test_the_database_size_counts_its_write_ahead_log_and_its_runs(page: SettingsPage) -> None:
    """Recent runs live in the -wal file until a checkpoint: the size shown counts it, and the runs."""
    history = page.context.history
    for index in range(23):
        run = history.start_run(engine="bayes", op="query", kind="bayes", model_id="asia", device="cpu")
        history.finish_run(run, "ok", metrics={"query_s": 0.001 * (index + 1)})
    wal = history.path.with_name(history.path.name + "-wal")
    page.facts = {}
    page.refresh_facts()
    wait_for(lambda: page.facts, 20, "the data facts")
    assert page.facts["database"] == str(history.path)
    on_disk = history.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert page.facts["database_bytes"] >= on_disk > 0
    assert "23 runs" in page.database_label.text() and "0 B" not in page.database_label.text()


def test_token_is_saved_owner_only_masked_and_forgotten(page: SettingsPage) -> None:
    from app.models.tokens import token_path

    page.save_token("not a token")
    wait_for(lambda: "does not look like" in page.last_message, 10, "the refusal")
    page.save_token("hf_abcdefghijklmnop")
    wait_for(lambda: page.last_message == "Token saved", 10, "the token")
    wait_for(lambda: page.token_state.text() == "hf_…op", 10, "the masked token")
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600
    page.clear_token()
    wait_for(lambda: page.last_message == "Token forgotten", 10, "forgetting")
    wait_for(lambda: page.token_state.text() == "(none)", 10, "no token")


def test_devices_are_listed(page: SettingsPage) -> None:
    wait_for(lambda: page.devices.rowCount() > 0, 180, "the device list")
    ids = [page.devices.item(r, 0).text() for r in range(page.devices.rowCount())]
    assert ids[0] == "cpu"
    assert "python" in page.versions.text()
