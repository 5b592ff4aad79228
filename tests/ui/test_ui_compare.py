"""The Compare page with real workers: run a small comparison, watch it fill in, cancel, import, export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import shown_page, wait_for
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.compare.plan import CompareSettings
from ui.compare.form import CompareForm
from ui.compare.page import ComparePage

SMALL_BAYES = CompareSettings(workloads=("bayes",), bayes_methods=("jt", "ve"), repeat=3, warmup=1)


@pytest.fixture(scope="module")
def page(qapp: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComparePage]:
    with shown_page(ComparePage, tmp_path_factory.mktemp("compare-ui"), (1400, 900)) as shown:
        yield shown
    shown.deleteLater()


def test_a_small_comparison_streams_into_the_table_and_charts(page: ComparePage, qtbot: QtBot) -> None:
    page.form.apply(SMALL_BAYES)
    with qtbot.waitSignal(page.run_finished, timeout=180_000) as finished:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
        wait_for(lambda: not page.run_button.isEnabled(), 5, "the run to start")
        assert page.cancel_button.isEnabled() and not page.form.isEnabled()
    assert finished.args == ["ok"]
    assert page.progress.value() == 1000
    assert [page.tables.cell("bayes", r, "method") for r in range(2)] == ["jt", "ve"]
    assert float(page.tables.cell("bayes", 0, "query ms (median)")) > 0
    assert page.charts.bar_count == 2
    assert len(page.charts.live.buffers["live"]) >= 2 * SMALL_BAYES.repeat  # every query reached the live line
    wait_for(lambda: page.sessions_box.count() == 1, 10, "the session list")
    assert page.run_button.isEnabled() and page.export_button.isEnabled()
    assert "comparison finished" in page.status.text()


def test_cancel_stops_the_run_and_keeps_an_honest_row(page: ComparePage, qtbot: QtBot) -> None:
    page.form.apply(CompareSettings(workloads=("bayes",), bayes_methods=("lw", "jt"), bayes_samples=20_000,
                                    repeat=500, warmup=0))
    page.start()
    wait_for(lambda: len(page.charts.live.buffers["live"]) > 0, 120, "the first live sample")
    with qtbot.waitSignal(page.run_finished, timeout=60_000) as finished:
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["cancelled"]
    assert page.tables.tables["bayes"].rowCount() == 1
    assert "cancelled" in page.tables.cell("bayes", 0, "flags")
    wait_for(lambda: page.sessions_box.count() == 2, 10, "the session list")


def test_another_machine_s_export_is_compared_in_the_same_table(page: ComparePage, qtbot: QtBot,
                                                                 tmp_path: Path) -> None:
    page.sessions_box.setCurrentIndex(1)  # the finished one (newest first: the cancelled run is at 0)
    page.show_button.click()
    wait_for(lambda: page.tables.tables.get("bayes") is not None and
             page.tables.tables["bayes"].rowCount() == 2, 10, "the finished comparison")
    exported = tmp_path / "mine.json"
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_to(str(exported))
    data = json.loads(exported.read_text())
    data["sessions"][0]["machine"].update(id="c0ffee000001", label="Workstation · 16 cores · 64 GiB · RTX 4090")
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(data))
    with qtbot.waitSignal(page.imported, timeout=10_000):
        page.import_files([str(theirs)])
    table = page.tables.tables["bayes"]
    assert table.rowCount() == 4 and table.horizontalHeaderItem(0).text() == "machine"
    machines = {page.tables.cell("bayes", r, "machine") for r in range(4)}
    assert any("Workstation" in m and "(imported)" in m for m in machines)
    report = tmp_path / "both.md"
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_to(str(report))
    assert "## Workstation · 16 cores" in report.read_text()


def test_an_impossible_form_is_refused_before_anything_starts(page: ComparePage) -> None:
    for check in page.form.workloads.values():
        check.setChecked(False)
    page.start()
    assert "choose at least one workload" in page.status.text() and not page.job.running
    page.form.apply(SMALL_BAYES)
    page.form.batch_sizes.setText("1, two")
    page.start()
    assert "batch sizes" in page.status.text() and not page.job.running


def test_the_form_remembers_its_settings(page: ComparePage, qapp: object) -> None:
    wanted = CompareSettings(workloads=("llm", "vision"), quantize=("Q8_0",), llm_threads=(1, 2), repeat=7,
                             duration_s=4.5, batch_sizes=(1, 16), vision_precisions=("int8",),
                             bayes_methods=("jt",), bayes_samples=500, warmup=3)
    page.form.apply(wanted)
    page.form.save(page.context.settings)
    again = CompareForm()
    again.restore(page.context.settings)
    assert again.settings() == CompareSettings(**{**wanted.__dict__, "devices": again.chosen_devices(),
                                                  "vision_backends": ("torch", "onnxruntime")})


def test_a_skipped_configuration_is_a_row_with_its_reason(page: ComparePage, qtbot: QtBot) -> None:
    """torch x {fp32, int8}: torch fp32 is measured, torch int8 is a greyed row saying why it did not run."""
    page.form.apply(CompareSettings(workloads=("vision",), devices=("cpu",), vision_backends=("torch",),
                                    vision_precisions=("fp32", "int8"), batch_sizes=(1,), repeat=2, warmup=0))
    with qtbot.waitSignal(page.run_finished, timeout=300_000) as finished:
        page.start()
    assert finished.args == ["ok"]
    table = page.tables.tables["vision"]
    assert table.rowCount() == 2
    assert [page.tables.cell("vision", r, "precision") for r in range(2)] == ["fp32", "int8"]
    assert float(page.tables.cell("vision", 0, "mean ms")) > 0
    reason = page.tables.cell("vision", 1, "flags")
    assert "skipped" in reason and "ONNX Runtime only" in reason
    assert page.tables.cell("vision", 1, "mean ms") == "—"
    assert "1 configurations measured, 1 skipped" in page.status.text()
    table.selectRow(1)
    assert "cpu torch int8: skipped" in page.details.text()


def test_options_of_unticked_workloads_are_greyed() -> None:
    form = CompareForm()
    form.apply(CompareSettings(workloads=("bayes",)))
    assert form.groups["bayes"].isEnabled()
    assert not form.groups["llm"].isEnabled() and not form.groups["vision"].isEnabled()
    form.workloads["vision"].setChecked(True)
    assert form.groups["vision"].isEnabled()


def test_long_headers_wrap_so_columns_stay_narrow() -> None:
    from ui.compare.table import wrap_header

    assert wrap_header("images/s by batch") == "images/s by\nbatch"
    assert wrap_header("device") == "device"
    wrapped = wrap_header("cold: start / first")
    assert wrapped.replace("\n", " ") == "cold: start / first"
    assert max(len(line) for line in wrapped.split("\n")) <= 11


def test_endpoint_rows_and_serving_charts_against_the_scripted_server(page: ComparePage, qtbot: QtBot) -> None:
    from app.loadgen.scripted_server import Script, ScriptedServer

    server = ScriptedServer(Script(ttft_s=0.02, gap_s=0.005, tokens=4)).start()
    try:
        page.form.apply(CompareSettings(workloads=("bayes",)))
        page.form.workloads["bayes"].setChecked(False)
        page.form.endpoints.setText(f"{server.url}=scripted")  # the field a user types URLs into
        page.form.endpoint_concurrency.setText("1, 2")
        page.form.endpoint_prompts.setValue(4)
        with qtbot.waitSignal(page.run_finished, timeout=120_000) as finished:
            qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
        assert finished.args == ["ok"] and page.progress.value() == 1000
        root = server.url.removesuffix("/v1")
        assert [page.tables.cell("endpoint", r, "load") for r in range(2)] == ["concurrency 1", "concurrency 2"]
        assert page.tables.cell("endpoint", 0, "endpoint") == f"endpoint:{root}"
        assert all(float(page.tables.cell("endpoint", r, "output t/s")) > 0 for r in range(2))
        assert float(page.tables.cell("endpoint", 0, "TTFT p50 ms")) >= 20
        curves = page.charts.serving.curves
        ttft = curves[f"{root} scripted TTFT p50"]
        assert len(ttft) == 2 and ttft[1][0] > ttft[0][0]  # two in flight: more output tokens/s
        assert len(curves[f"{root} scripted TPOT p99"]) == 2 and len(curves[f"{root} scripted per user"]) == 2
        assert len(server.served) == 8
    finally:
        server.stop()


def test_an_endpoint_run_can_be_cancelled(page: ComparePage, qtbot: QtBot) -> None:
    from app.loadgen.scripted_server import Script, ScriptedServer

    server = ScriptedServer(Script(ttft_s=0.05, gap_s=0.05, tokens=20)).start()  # 1 s per request
    try:
        page.form.endpoints.setText(server.url)
        page.form.endpoint_concurrency.setText("1")
        page.form.endpoint_prompts.setValue(30)
        page.start()
        wait_for(lambda: page.progress.value() > 0 and len(server.served) >= 2, 60, "the first requests")
        with qtbot.waitSignal(page.run_finished, timeout=30_000) as finished:
            qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
        assert finished.args == ["cancelled"]
        assert "cancelled" in page.tables.cell("endpoint", 0, "flags")
        assert len(server.served) < 30
    finally:
        server.stop()
        page.form.endpoints.setText("")
