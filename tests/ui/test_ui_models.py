"""The Models page against the loopback fake Hub: search, files with fit verdicts, download with progress
and cancel, the installed list with disk use, import by drag-and-drop, delete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_support import fake_hub_module, shown_page, wait_for
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from ui.models.page import ModelsPage
from ui.preferences import CACHE_KEY, ENDPOINT_KEY

hub_server = fake_hub_module()
REPO = "org/Tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
SLOW_REPO = "org/Slow-GGUF"
SLOW_FILE = "slow-Q8_0.gguf"


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[Any]:
    """The fake Hub with a small GGUF repository and a slow one."""
    with hub_server.FakeHub() as hub:
        hub.add_repo(REPO, {FILE: hub_server.tiny_gguf(padding=2 * 1024 * 1024), "README.md": b"# Tiny\n"},
                     tags=["gguf"], downloads=1234, likes=5)
        hub.add_repo(SLOW_REPO, {SLOW_FILE: hub_server.tiny_gguf(file_type=7, padding=4 * 1024 * 1024)},
                     tags=["gguf"], downloads=10)
        yield hub


@pytest.fixture(scope="module")
def page(qapp: QApplication, fake_hub: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelsPage]:
    """A Models page whose manager talks to the fake Hub and downloads into a test cache."""
    folder = tmp_path_factory.mktemp("models")
    settings = {ENDPOINT_KEY: fake_hub.url, CACHE_KEY: str(folder / "hf-cache")}
    with shown_page(ModelsPage, folder, (1100, 700), settings) as models:
        yield models


def _rows(table: Any) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_installed_lists_the_starter_models_with_disk_use(page: ModelsPage) -> None:
    wait_for(lambda: page.installed.rowCount() > 0, 20, "the installed list")
    ids = [row[0] for row in _rows(page.installed)]
    assert "smollm2-135m-instruct" in ids and "efficientnet-lite0" in ids
    assert "models ·" in page.disk_label.text() and "on disk" in page.disk_label.text()


def test_search_and_files_show_quant_and_fit(page: ModelsPage) -> None:
    page.search("tiny")
    wait_for(lambda: page.results.rowCount() == 1, 20, "search results")
    assert _rows(page.results)[0][:2] == [REPO, "1,234"]
    page.results.selectRow(0)
    wait_for(lambda: page.files.rowCount() == 2, 20, "the file list")
    rows = {row[0]: row for row in _rows(page.files)}
    assert rows[FILE][2] == "Q4_K_M" and rows[FILE][4] == "fits in RAM" and "MiB" in rows[FILE][1]
    assert "free RAM" in page.files_label.text()
    assert page.download_button.isEnabled()


def test_download_shows_progress_and_registers(page: ModelsPage) -> None:
    progress: list[int] = []
    page.download_bar.valueChanged.connect(progress.append)
    page.files.selectRow(next(r for r in range(page.files.rowCount()) if page.files.item(r, 0).text() == FILE))
    finished: list[str] = []
    page.download_finished.connect(finished.append)
    page.download_button.click()
    assert page.download_panel.isVisibleTo(page)
    wait_for(lambda: finished, 60, "the download")
    assert finished == ["ok"], page.last_message
    assert progress and max(progress) == 1000
    assert "Downloaded and verified tiny-q4_k_m" in page.last_message
    wait_for(lambda: "tiny-q4_k_m" in [row[0] for row in _rows(page.installed)], 20, "the new model")
    row = next(row for row in _rows(page.installed) if row[0] == "tiny-q4_k_m")
    assert row[1:4] == ["llm", "gguf", "Q4_K_M"] and row[5] == "hub"
    assert "downloaded by the workbench" in page.disk_label.text() and "(0 B downloaded" not in page.disk_label.text()


def test_cancel_stops_a_slow_download(page: ModelsPage, fake_hub: Any) -> None:
    fake_hub.add_fault(hub_server.Fault("/blobs/", chunk_delay_s=0.02))
    finished: list[str] = []
    page.download_finished.connect(finished.append)
    task = page.download(SLOW_REPO, SLOW_FILE)
    assert task is not None
    wait_for(lambda: page.download_bar.value() > 0, 30, "some progress")
    page.cancel_button.click()
    wait_for(lambda: finished, 30, "the cancel")
    assert finished == ["cancelled"]
    assert "resumes" in page.last_message
    assert not page.download_panel.isVisibleTo(page)
    ids = [record.id for record in page.records]
    assert "slow-q8_0" not in ids


def test_unreachable_hub_gives_a_clear_message(page: ModelsPage) -> None:
    good = page.context.settings.value(ENDPOINT_KEY)
    page.context.settings.setValue(ENDPOINT_KEY, "http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        page.last_error = ""
        page.search("anything")
        wait_for(lambda: page.last_error, 30, "the error")
        assert "127.0.0.1:9" in page.last_error and "Traceback" not in page.last_error
    finally:
        page.context.settings.setValue(ENDPOINT_KEY, good)


def test_drop_imports_and_delete_unregisters(page: ModelsPage, tmp_path: Path) -> None:
    from app.starter_models import starter

    source = starter("smollm2-135m-instruct")
    assert source is not None
    located = source.locate()
    assert located is not None
    dropped = tmp_path / "my-smol-Q4_1.gguf"
    shutil.copyfile(located, dropped)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)
    wait_for(lambda: "Imported" in page.last_message, 30, "the import")
    wait_for(lambda: any(r.path == str(dropped) for r in page.records), 20, "the imported model in the list")
    record = next(r for r in page.records if r.path == str(dropped))
    assert record.source == "import" and record.format == "gguf"
    page.delete_models([record.id])
    wait_for(lambda: "removed" in page.last_message, 20, "the removal")
    wait_for(lambda: all(r.path != str(dropped) for r in page.records), 20, "the list without it")
    assert dropped.exists()  # an imported file is only unregistered, never deleted


def test_the_bayes_filter_lists_the_shipped_networks(page: ModelsPage) -> None:
    from ui.bayes.network_choice import list_shipped_networks

    shipped = list_shipped_networks()
    assert len(shipped) >= 20
    page.kind_filter.setCurrentText("bayes")
    try:
        wait_for(lambda: page.records and all(r.kind == "bayes" for r in page.records), 20, "the networks")
        rows = {row[0]: row for row in _rows(page.installed)}
        assert set(shipped) <= set(rows)
        assert rows["asia"][1] == "bayes" and rows["asia"][2] == "bif" and rows["asia"][6].endswith("asia.bif.gz")
    finally:
        page.kind_filter.setCurrentText("all kinds")
        wait_for(lambda: any(r.kind == "llm" for r in page.records), 20, "the full list")


def test_a_hub_error_is_a_banner_that_a_tab_switch_clears(page: ModelsPage) -> None:
    good = page.context.settings.value(ENDPOINT_KEY)
    page.context.settings.setValue(ENDPOINT_KEY, "http://127.0.0.1:9")
    try:
        page.tabs.setCurrentIndex(1)
        page.clear_error()
        page.search("anything")
        wait_for(lambda: page.error_banner.isVisible(), 30, "the error banner")
        assert "127.0.0.1:9" in page.error_banner.text()
        page.tabs.setCurrentIndex(0)
        assert not page.error_banner.isVisible() and page.last_error == ""
    finally:
        page.context.settings.setValue(ENDPOINT_KEY, good)


def test_a_damaged_model_is_marked_in_the_list(page: ModelsPage, tmp_path: Path) -> None:
    model = tmp_path / "broken-Q4_K_M.gguf"
    model.write_bytes(hub_server.tiny_gguf(padding=64 * 1024))
    page.import_paths([str(model)])
    wait_for(lambda: any(r.path == str(model) for r in page.records), 30, "the import")
    with model.open("ab") as handle:  # changed on disk since it was registered
        handle.write(b"\0" * 4096)
    page.refresh_installed()
    wait_for(lambda: "damaged" in page.disk_label.text(), 20, "the damaged mark")
    row = next(r for r in _rows(page.installed) if r[6].endswith(str(model)))
    assert row[6].startswith("DAMAGED:") and "registered" in row[6]
    record_id = next(r.id for r in page.records if r.path == str(model))
    page.delete_models([record_id])
    wait_for(lambda: all(r.path != str(model) for r in page.records), 20, "the removal")


def test_download_progress_shows_the_managers_notice() -> None:
    from app.models.transfer import DownloadProgress
    from ui.models.view import progress_text

    plain = DownloadProgress("m.gguf", "downloading", 10 * 2**20, 50 * 2**20, rate_bytes_per_s=2**20, eta_s=40)
    assert progress_text(plain).startswith("m.gguf: downloading") and "40 s left" in progress_text(plain)
    notice = DownloadProgress("m.gguf", "notice", 40 * 2**20, 50 * 2**20,
                              message="connection lost at 40 MiB, resuming (2/5)")
    assert progress_text(notice) == "m.gguf: connection lost at 40 MiB, resuming (2/5)"
