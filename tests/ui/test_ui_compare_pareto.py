"""The Compare page's speed x quality chart marks the Pareto front."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.compare.results import CompareSession, ResultRow
from ui.compare.charts import CompareCharts


def _row(quant: str, tg: float, kld: float) -> ResultRow:
    return ResultRow("llm", "cpu", "llama.cpp", quant, "1 thread", metrics={"tg_tokens_per_s": tg, "kld_mean": kld})


def test_speed_quality_tab_draws_the_front(qtbot: QtBot) -> None:
    charts = CompareCharts()
    qtbot.addWidget(charts)
    session = CompareSession("s1", 0.0, "llm", {}, {"id": "m"}, "ok",
                             results=[_row("Q8_0", 30.0, 0.0), _row("Q4_0", 45.0, 0.6), _row("Q4_1", 40.0, 0.7)])
    charts.show_sessions([session])
    on_front = {label: front for label, _x, _y, front in charts.pareto_points}
    assert on_front == {"cpu Q8_0 1 thread": True, "cpu Q4_0 1 thread": True, "cpu Q4_1 1 thread": False}
    assert "2 of 3 configurations" in charts.pareto_note.text()
    charts.show_sessions([CompareSession("s2", 0.0, "llm", {}, {"id": "m"}, "ok", results=[_row("Q8_0", 30, 0)])])
    assert charts.pareto_points == [] and "Needs two or more" in charts.pareto_note.text()
    charts.stop()
