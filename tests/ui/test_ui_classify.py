"""The Classify page with the real EfficientNet-Lite0 in a real vision worker: drop, stream, cancel, evaluate."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import shown_page, wait_for
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from app.usecases.classify_export import result_line, results_header
from ui.classify.card import card_html
from ui.classify.drop import dropped_paths
from ui.classify.eval import row_normalised, summary_text
from ui.classify.page import ClassifyPage, summary_line
from ui.classify.plots import RateMeter
from ui.classify.results import ClassifiedImage

IMAGES = Path(__file__).resolve().parents[2] / "resources" / "images"
SAMPLES = sorted(IMAGES.glob("*.jpg"))


# --- pure parts (no worker) -----------------------------------------------------------------------
def test_qt_binding_keeps_none_alive(qapp: QApplication) -> None:
    # PySide6 6.12.0 drops a reference to None on every void call; on Python 3.11 the GUI then dies with
    # "deallocating None" after a few thousand paints. 6.11.x is fine.
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
    assert sys.getrefcount(None) >= before - 50


def test_rate_meter_counts_a_trailing_window() -> None:
    meter = RateMeter(window_s=1.0)
    meter.reset(now=100.0)
    for i in range(5):
        meter.add(now=100.05 + i * 0.1)  # five images in the first half second
    assert meter.rate(now=100.5) == pytest.approx((0.5, 10.0))  # rate over the time so far, not the window
    for i in range(5, 10):
        meter.add(now=100.05 + i * 0.1)
    assert meter.rate(now=101.0) == pytest.approx((1.0, 10.0))
    assert meter.rate(now=101.5) == pytest.approx((1.5, 5.0))  # five within the last second
    assert meter.rate(now=105.0) == pytest.approx((5.0, 0.0))


def test_confusion_rows_are_normalised_by_class_size() -> None:
    assert row_normalised([[3, 1, 0], [0, 0, 0]]) == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0]]
    text = summary_text({"top1": 0.5, "top5": 1.0, "macro": {"f1": 0.4}, "evaluated": 4, "classes": ["a", "b"],
                         "failed": 1, "mapping": "by name"})
    assert "top-1 50.0%" in text and "top-5 100.0%" in text and "1 unreadable" in text and "by name" in text


def test_drop_keeps_local_files_and_folders_only(tmp_path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "a.jpg")), QUrl("https://example.com/b.jpg"),
                  QUrl.fromLocalFile(str(tmp_path)), QUrl.fromLocalFile(str(tmp_path / "a.jpg"))])
    assert dropped_paths(mime) == [str(tmp_path / "a.jpg"), str(tmp_path)]
    assert dropped_paths(QMimeData()) == []


def test_records_and_card_carry_every_detail() -> None:
    row = ClassifiedImage.from_partial({"index": 0, "path": "/x/cat.jpg", "ok": True, "latency_ms": 12.5,
                                        "top": [{"label": "tabby", "prob": 0.6}, {"label": "lynx", "prob": 0.3}],
                                        "times_ms": {"decode": 1.0, "inference": 9.0}})
    bad = ClassifiedImage.from_partial({"index": 1, "path": "/x/bad.jpg", "ok": False, "error": "not an image"})
    records = [dict(zip(results_header(), result_line(r.raw), strict=True)) for r in (row, bad)]
    assert records[0]["label_1"] == "tabby" and records[0]["prob_2"] == "0.300000" and records[0]["label_3"] == ""
    assert records[0]["inference_ms"] == "9.000" and records[1]["error"] == "not an image"
    html = card_html({"name": "net", "backend": "onnxruntime", "precision": "int8", "device": "cpu",
                      "preprocess": {"resize_size": 256, "crop_mode": "center", "interpolation": "bicubic",
                                     "input_size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3,
                                     "source": "cfg"}}, {"parameters": 4_652_008, "macs": 385_187_552})
    assert "4.65 M" in html and "385.19 M" in html and "bicubic" in html and "onnxruntime int8" in html
    line = summary_line({"images": 4, "classified": 4, "backend": "torch", "precision": "fp32", "device": "cpu",
                         "metrics": {"images_per_s": 8.0, "latency_mean_ms": 100.0, "latency_p90_ms": 120.0}})
    assert "4 of 4 images" in line and "8.0 images/s" in line and "torch fp32 on cpu" in line


# --- the page with a real worker --------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClassifyPage]:
    """One Classify page for the module; ONNX Runtime chosen up front so the load skips the auto timing."""
    settings = {"classify/backend": "onnxruntime", "classify/batch": 4}
    with shown_page(ClassifyPage, tmp_path_factory.mktemp("classify"), (1300, 850), settings) as page:
        yield page


def _wait_run(page: ClassifyPage, op: str, timeout: float = 180) -> str:
    """Wait for the next ``op`` (or a failed load) to finish; its status."""
    seen: list[tuple[str, str]] = []

    def record(finished_op: str, status: str) -> None:
        seen.append((finished_op, status))

    page.run_finished.connect(record)
    try:
        wait_for(lambda: any(o in (op, "load") for o, _ in seen), timeout, f"{op} to finish")
    finally:
        page.run_finished.disconnect(record)
    return next(s for o, s in seen if o in (op, "load"))


def _drop(widget: ClassifyPage, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def test_a_missing_model_file_is_reported_and_nothing_is_lost(page: ClassifyPage) -> None:
    page.settings.model.setCurrentText("/nowhere/model.onnx")
    page.classify([str(SAMPLES[0])])
    assert _wait_run(page, "classify", 120) == "failed"
    assert "could not load" in page.status.text() and "model.onnx" in page.status.text()
    wait_for(lambda: not page.is_running, 30, "the requests for that model to be dropped")
    assert page.results.rowCount() == 0
    page.settings.model.setCurrentText("efficientnet-lite0")


def test_dropped_images_stream_in_with_top5_bars_and_thumbnails(page: ClassifyPage) -> None:
    _drop(page, SAMPLES)
    assert _wait_run(page, "classify") == "ok"
    rows = {Path(r.path).name: r for r in page.results.rows()}
    assert set(rows) == {p.name for p in SAMPLES}
    for row in rows.values():
        probs = [p for _, p in row.top]
        assert row.ok and len(row.top) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert rows["coffee.jpg"].top[0][0] == "espresso" and rows["coffee.jpg"].top[0][1] > 0.9
    assert "cat" in rows["chelsea.jpg"].top[0][0]
    wait_for(lambda: all(r.thumbnail is not None for r in page.results.rows()), 30, "thumbnails")
    assert "4 of 4 images" in page.summary.text() and "images/s" in page.summary.text()
    assert len(page.performance.histogram.buffer) == 4
    wait_for(lambda: "Preprocessing" in page.card_view.toHtml(), 60, "the model card")
    card = page.card_view.toPlainText()
    assert "bicubic" in card and "4.65 M" in card and "onnxruntime fp32" in card
    runs = page.context.history.runs(engine="vision")
    assert any(r["op"] == "classify" and r["status"] == "ok" for r in runs)
    assert page.grab().width() > 0  # paints the grid with thumbnails and bars without error


def test_a_folder_streams_with_progress_and_cancel_keeps_what_was_done(page: ClassifyPage, tmp_path: Path) -> None:
    for i in range(40):
        for sample in SAMPLES:
            os.symlink(sample, tmp_path / f"{i:03d}-{sample.name}")
    (tmp_path / "notes.txt").write_text("not an image")
    page.classify([str(tmp_path)])
    wait_for(lambda: page.results.rowCount() >= 4, 120, "the first images")
    assert page.progress.maximum() == 160
    page.cancel_button.click()
    assert _wait_run(page, "classify") == "cancelled"
    done = page.results.rowCount()
    assert 4 <= done < 160
    assert "cancelled after" in page.status.text()
    assert page.context.history.runs(engine="vision")[0]["status"] == "cancelled"


def test_unreadable_files_are_shown_and_the_rest_still_run(page: ClassifyPage, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    page.classify([str(broken), str(SAMPLES[1])])
    assert _wait_run(page, "classify") == "ok"
    rows = {Path(r.path).name: r for r in page.results.rows()}
    assert not rows["broken.jpg"].ok and rows["broken.jpg"].error
    assert rows[SAMPLES[1].name].ok
    page.classify([str(tmp_path / "missing.jpg")])
    assert _wait_run(page, "classify") == "failed"
    assert "missing.jpg" in page.status.text()


def test_a_second_folder_replaces_or_keeps_the_first_results(page: ClassifyPage) -> None:
    page.keep_results.setChecked(False)
    page.classify([str(SAMPLES[0])])
    assert _wait_run(page, "classify") == "ok"
    assert [Path(r.path).name for r in page.results.rows()] == [SAMPLES[0].name]
    page.keep_results.setChecked(True)
    try:
        page.classify([str(SAMPLES[1])])
        assert _wait_run(page, "classify") == "ok"
        assert [Path(r.path).name for r in page.results.rows()] == [SAMPLES[0].name, SAMPLES[1].name]
    finally:
        page.keep_results.setChecked(False)
    page.classify([str(SAMPLES[2])])
    assert _wait_run(page, "classify") == "ok"
    assert [Path(r.path).name for r in page.results.rows()] == [SAMPLES[2].name]


def test_the_progress_bar_is_labelled_and_the_latency_explained(page: ClassifyPage) -> None:
    from ui.classify.summary import LATENCY_EXPLAINED

    assert page.progress_label.buddy() is page.progress and page.progress_label.isVisible()
    assert page.progress.accessibleName()
    page.classify([str(p) for p in SAMPLES])
    assert _wait_run(page, "classify") == "ok"
    text = page.summary.text()
    assert "latency mean" in text and "decode + preprocess + its batch of 4's inference" in text
    assert "inference = batch ÷ 4" in text
    assert page.summary.toolTip() == LATENCY_EXPLAINED and "queueing excluded" in LATENCY_EXPLAINED


def test_a_changed_backend_and_batch_reload_and_repeat_the_run(page: ClassifyPage) -> None:
    page.classify([str(p) for p in SAMPLES])
    assert _wait_run(page, "classify") == "ok"
    onnx_top = {Path(r.path).name: r.top[0][0] for r in page.results.rows()}
    page.settings.backend.setCurrentText("torch")
    page.settings.batch.setValue(2)
    page.run_again_button.click()
    assert _wait_run(page, "classify") == "ok"
    assert page.model_info["backend"] == "torch"
    assert {Path(r.path).name: r.top[0][0] for r in page.results.rows()} == onnx_top
    assert {r.latency_ms is not None for r in page.results.rows()} == {True}
    assert "torch fp32 on cpu" in page.summary.text()
    page.settings.backend.setCurrentText("onnxruntime")


def test_a_labelled_folder_is_evaluated_with_a_confusion_matrix(page: ClassifyPage, tmp_path: Path) -> None:
    layout = {"espresso": ["coffee.jpg"], "tiger cat": ["chelsea.jpg"], "missile": ["rocket.jpg", "astronaut.jpg"]}
    for folder, names in layout.items():
        (tmp_path / folder).mkdir()
        for name in names:
            shutil.copy(IMAGES / name, tmp_path / folder / name)
    page.evaluate(str(tmp_path))
    assert _wait_run(page, "eval") == "ok"
    result = page.eval_panel.result
    assert result is not None and result["evaluated"] == 4
    assert result["top1"] == pytest.approx(0.75)  # the astronaut is not a missile
    assert page.eval_panel.heatmap.matrix == [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert page.eval_panel.table.rowCount() == 3
    assert "top-1 75.0%" in page.eval_panel.summary.text()
    assert page.tabs.currentIndex() == 1


def test_results_and_evaluation_export_as_csv_and_json(page: ClassifyPage, tmp_path: Path) -> None:
    written: list[str] = []
    page.exported.connect(written.append)
    page.export_results(str(tmp_path / "results.csv"))
    wait_for(lambda: len(written) == 1, 20, "the CSV")
    with open(written[0], newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == page.results.rowCount() and all(r["label_1"] for r in records)
    page.export_results(str(tmp_path / "results.json"))
    page.export_evaluation(str(tmp_path / "evaluation.json"))
    wait_for(lambda: len(written) == 3, 20, "the JSON files")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["backend"] and len(data["results"]) == page.results.rowCount()
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["confusion"]["matrix"] == page.eval_panel.heatmap.matrix


def test_a_worker_killed_mid_run_shows_restart_and_the_page_recovers(page: ClassifyPage, tmp_path: Path) -> None:
    for i in range(40):
        for sample in SAMPLES:
            os.symlink(sample, tmp_path / f"{i:03d}-{sample.name}")
    page.classify([str(tmp_path)])
    wait_for(lambda: page.results.rowCount() >= 4, 120, "the first images")
    pid = page.session.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert _wait_run(page, "classify", 60) == "crashed"
    assert page.restart_button.isVisible() and "stopped" in page.status.text()
    kept = page.results.rowCount()
    assert kept >= 4  # what was classified before the crash stays on screen
    page.restart_button.click()
    wait_for(lambda: page.session.is_loaded and not page.is_running, 180, "the restart")
    assert page.session.worker_pid != pid and not page.restart_button.isVisible()
    page.classify([str(SAMPLES[2])])
    assert _wait_run(page, "classify") == "ok"
    assert page.results.row(0).top[0][0] == "espresso"
