"""The Compare page's serving charts and endpoint form fields, on rows measured against the scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.compare.plan import CompareSettings, PlanError
from app.compare.runner import CompareRunner
from app.history import History
from app.loadgen.scripted_server import Script, ScriptedServer
from ui.compare.form import CompareForm
from ui.compare.serving_chart import ServingCharts


def test_the_form_builds_endpoint_settings_and_refuses_bad_ones(qapp: object) -> None:
    form = CompareForm()
    for check in form.workloads.values():
        check.setChecked(False)
    form.endpoints.setText("http://127.0.0.1:8080=m, http://gpu:8000")
    form.endpoint_concurrency.setText("1, 2, 8")
    form.endpoint_rates.setText("0.5, 2")
    form.endpoint_goodput.setText("ttft:500, tpot:100")
    settings = form.settings()
    assert settings.workloads == ("endpoint",)
    assert settings.endpoints == ("http://127.0.0.1:8080=m", "http://gpu:8000")
    assert (settings.endpoint_concurrency, settings.endpoint_rates) == ((1, 2, 8), (0.5, 2.0))
    assert settings.goodput_slos() == {"ttft": 500.0, "tpot": 100.0}
    again = CompareForm()
    again.apply(settings)
    assert again.settings() == CompareSettings(**{**settings.__dict__, "devices": again.chosen_devices()})
    form.endpoint_goodput.setText("ttft=500")
    with pytest.raises(PlanError, match="NAME:MILLISECONDS"):
        form.settings()
    form.endpoint_goodput.setText("")
    form.endpoint_rates.setText("fast")
    with pytest.raises(PlanError, match="endpoint rates"):
        form.settings()


@pytest.mark.timeout(120)
def test_the_three_serving_charts_draw_measured_rows(qapp: object, tmp_path: Path) -> None:
    server = ScriptedServer(Script(ttft_s=0.02, gap_s=0.005, tokens=4)).start()
    history = History(tmp_path / "history.db")
    try:
        settings = CompareSettings(workloads=("endpoint",), endpoints=(f"{server.url}=scripted",),
                                   endpoint_concurrency=(1, 2), endpoint_rates=(10.0, 40.0), endpoint_prompts=6,
                                   endpoint_input_len=8, endpoint_output_len=4, endpoint_goodput="ttft:5000")
        session = CompareRunner(settings, history).run()
    finally:
        history.close()
        server.stop()
    assert session.status == "ok" and len(session.results) == 4
    charts = ServingCharts()
    charts.show_sessions([session])
    root = server.url.removesuffix("/v1")
    caps = charts.curves[f"{root} scripted TTFT p50"]
    assert len(caps) == 2 and all(ms >= 20 for _x, ms in caps)
    assert len(charts.curves[f"{root} scripted (rates) TPOT p50"]) == 2
    goodput = charts.curves[f"{root} scripted (rates) goodput (within the SLOs)"]
    completed = charts.curves[f"{root} scripted (rates) completed"]
    assert [rate for rate, _ in goodput] == [10.0, 40.0]
    assert [g for _, g in goodput] == pytest.approx([c for _, c in completed])  # every request within 5 s
    assert f"{root} scripted goodput (within the SLOs)" not in charts.curves  # caps have no arrival rate
    assert charts.count() == 3
    charts.show_sessions([])
    assert charts.curves == {} and "Add endpoint URLs" in charts.note.text()
