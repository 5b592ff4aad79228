"""The History page on a real history database: table, filters, sorting, details with graphs, comparison,
export and delete."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import make_context, wait_for
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ui.history.detail import GRAPH_HEIGHT, RunDetail
from ui.history.format import display_status, format_value, key_metrics, metric_label
from ui.history.page import HistoryPage


def test_values_get_units_and_key_metrics_pick_the_telling_ones() -> None:
    assert format_value("ttft_ms", 212.04) == "212.0 ms"
    assert format_value("query_s", 0.0123) == "12.3 ms"
    assert format_value("images_per_s", 120.0) == "120.0/s"
    assert format_value("top1_accuracy", 0.875) == "87.5 %"
    assert key_metrics({"prompt_tokens": 12, "gen_tokens_per_s": 35.06, "ttft_ms": 212.0}) == \
        "35.1 tok/s · TTFT 212.0 ms"


@pytest.fixture(scope="module")
def page(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryPage]:
    """A History page over three recorded runs of three engines."""
    context = make_context(tmp_path_factory.mktemp("history"))
    history = context.history
    chat = history.start_run(engine="llm", op="chat", kind="llm", model_id="smollm2-135m-instruct", device="cpu",
                             params={"max_tokens": 32})
    history.add_samples(chat, [("token_latency_ms", 100.0 + i * 0.03, 30.0 + i) for i in range(20)])
    history.finish_run(chat, "ok", metrics={"gen_tokens_per_s": 34.2, "ttft_ms": 180.5, "gen_tokens": 20.0},
                       result={"text": "Hello there"})
    vision = history.start_run(engine="vision", op="classify", kind="vision", model_id="efficientnet-lite0",
                               device="ort:CPUExecutionProvider:0")
    history.finish_run(vision, "failed", error="cat.png is not an image the workbench can read")
    bayes = history.start_run(engine="bayes", op="query", kind="bayes", model_id="alarm", device="cpu")
    history.finish_run(bayes, "ok", metrics={"query_s": 0.0021})
    history_page = HistoryPage(context)
    history_page.resize(1100, 800)
    history_page.show()
    history_page.ids = {"chat": chat, "vision": vision, "bayes": bayes}  # type: ignore[attr-defined]
    wait_for(lambda: history_page.model.rowCount() == 3, 20, "the runs")
    yield history_page
    history_page.shutdown()
    context.shutdown()


def _column(page: HistoryPage, column: int) -> list[str]:
    return [page.proxy.index(r, column).data() for r in range(page.proxy.rowCount())]


def test_table_shows_every_run_with_key_metrics(page: HistoryPage) -> None:
    assert sorted(_column(page, 1)) == ["bayes", "llm", "vision"]
    row = _column(page, 1).index("llm")
    assert page.proxy.index(row, 6).data() == "34.2 tok/s · TTFT 180.5 ms"
    assert page.proxy.index(row, 5).data() == "ok"
    assert page.count_label.text() == "3 runs"


def test_filters_and_sorting(page: HistoryPage) -> None:
    page.engine.setCurrentIndex(page.engine.findData("vision"))
    assert _column(page, 1) == ["vision"] and page.count_label.text() == "1 of 3 runs"
    page.engine.setCurrentIndex(0)
    page.status.setCurrentIndex(page.status.findData("ok"))
    assert sorted(_column(page, 1)) == ["bayes", "llm"]
    page.status.setCurrentIndex(0)
    page.search.setText("not an image")  # errors are searchable too
    assert _column(page, 1) == ["vision"]
    page.search.setText("")
    page.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert _column(page, 1) == ["bayes", "llm", "vision"]
    page.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert _column(page, 1) == ["bayes", "vision", "llm"]  # newest first


def test_detail_shows_metrics_parameters_and_graphs(page: HistoryPage) -> None:
    page.select_runs([page.ids["chat"]])  # type: ignore[attr-defined]
    detail = page.detail.detail
    wait_for(lambda: detail.graphs.shown == ["token_latency_ms"], 20, "the graphs")
    assert page.detail.currentIndex() == 0
    metrics = {detail.metrics.item(r, 0).text(): detail.metrics.item(r, 1).text()
               for r in range(detail.metrics.rowCount())}
    assert metrics["Time to first token (ms)"] == "180.5 ms" and metrics["Generated tokens"] == "20"
    row = list(metrics).index("Time to first token (ms)")
    assert detail.metrics.item(row, 0).toolTip() == "ttft_ms"  # the raw name, for scripts and the CLI
    assert detail.graphs.graphics.minimumHeight() >= GRAPH_HEIGHT
    assert page.detail.height() > 2 * GRAPH_HEIGHT  # the default splitter gives the graphs room
    assert json.loads(detail.params.toPlainText()) == {"max_tokens": 32}
    assert "Hello there" in detail.result.toPlainText()
    page.select_runs([page.ids["vision"]])  # type: ignore[attr-defined]
    wait_for(lambda: "not an image" in detail.result.toPlainText(), 20, "the failed run")
    assert "failed" in detail.title.text() and detail.graphs.shown == []


def test_selecting_several_runs_compares_them(page: HistoryPage) -> None:
    page.select_runs([page.ids["chat"], page.ids["bayes"]])  # type: ignore[attr-defined]
    assert page.detail.currentIndex() == 1
    table = page.detail.compare
    assert table.columnCount() == 3
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in (1, 2)] for r in range(table.rowCount())}
    assert sorted(rows["Model"]) == ["alarm", "smollm2-135m-instruct"]
    assert "–" in rows["Query (s)"] and "2.1 ms" in rows["Query (s)"]


def test_export_and_delete(page: HistoryPage, tmp_path: Path) -> None:
    page.select_runs([page.ids["chat"], page.ids["bayes"]])  # type: ignore[attr-defined]
    as_csv, as_json = tmp_path / "runs.csv", tmp_path / "runs.json"
    page.export_runs(str(as_csv))
    wait_for(lambda: page.last_message.endswith("runs.csv"), 20, "the CSV")
    page.export_runs(str(as_json), page.visible_runs())
    wait_for(lambda: page.last_message.endswith("runs.json"), 20, "the JSON")
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert sorted(r["engine"] for r in rows) == ["bayes", "llm"]
    assert next(r for r in rows if r["engine"] == "llm")["metric.ttft_ms"] == "180.5"
    exported = json.loads(as_json.read_text())["runs"]
    assert len(exported) == 3
    assert len(next(r for r in exported if r["engine"] == "llm")["samples"]["token_latency_ms"]) == 20
    page.delete_runs([page.ids["vision"]])  # type: ignore[attr-defined]
    wait_for(lambda: page.model.rowCount() == 2, 20, "the deletion")
    assert "vision" not in _column(page, 1)


def test_metric_names_read_as_words_with_units() -> None:
    assert metric_label("ttft_ms") == "Time to first token (ms)"
    assert metric_label("gen_tokens_per_s") == "Generated tokens/s"
    assert metric_label("cpu_percent") == "CPU (%)"
    assert metric_label("rss_mb") == "Memory RSS (MB)"
    assert metric_label("top1_accuracy") == "Top-1 accuracy"


def test_before_a_selection_the_tables_have_real_headers(qapp: QApplication) -> None:
    detail = RunDetail()
    headers = [detail.metrics.horizontalHeaderItem(c).text() for c in range(detail.metrics.columnCount())]
    assert headers == ["Metric", "Value"]


def test_stopped_and_crashed_runs_say_so(qapp: QApplication, tmp_path: Path) -> None:
    """An answer cut short by Stop is "stopped", a run whose worker died is "interrupted", not plain "ok"."""
    context = make_context(tmp_path)
    history = context.history
    stopped = history.start_run(engine="llm", op="chat", kind="llm", model_id="smollm2-135m-instruct", device="cpu")
    history.finish_run(stopped, "ok", metrics={"gen_tokens": 7.0},
                       result={"text": "Once upon", "stop_reason": "cancelled"})
    crashed = history.start_run(engine="llm", op="chat", kind="llm", model_id="smollm2-135m-instruct", device="cpu")
    history.finish_run(crashed, "crashed", error="the worker was killed (SIGKILL)",
                       result={"interrupted": "worker crashed", "text": "Half an"})
    done = history.start_run(engine="llm", op="chat", kind="llm", model_id="smollm2-135m-instruct", device="cpu")
    history.finish_run(done, "ok", result={"text": "All of it.", "stop_reason": "eos"})
    page = HistoryPage(context)
    try:
        wait_for(lambda: page.model.rowCount() == 3, 20, "the runs")
        shown = {run["id"]: page.model.index(r, 5).data() for r, run in enumerate(page.model.runs)}
        assert shown == {stopped: "stopped", crashed: "interrupted (worker crashed)", done: "ok"}
        assert display_status({"status": "cancelled", "result": {"stop_reason": "cancelled"}}) == "stopped"
        page.status.setCurrentIndex(page.status.findData("stopped"))
        assert [page.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole)["id"]
                for r in range(page.proxy.rowCount())] == [stopped]
    finally:
        page.shutdown()
        context.shutdown()
