"""Endpoints as devices in ``workbench compare``: planned per concurrency cap, measured by the load generator
against the scripted SSE server (known TTFT, gaps and token counts), tabled, exported and recorded."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest

from app.cli import main
from app.compare.endpoint_workload import parse_endpoint
from app.compare.export import to_csv, to_json, to_markdown
from app.compare.plan import CompareSettings, PlanError
from app.compare.results import ResultRow
from app.compare.runner import CompareRunner
from app.compare.table import build_tables
from app.history import History
from app.loadgen.scripted_server import Script, ScriptedServer

TTFT_S, GAP_S, TOKENS = 0.03, 0.01, 5


@pytest.fixture
def server() -> ScriptedServer:
    """A scripted server: 30 ms to the first chunk, then 10 ms gaps, 5 content tokens per answer."""
    running = ScriptedServer(Script(ttft_s=TTFT_S, gap_s=GAP_S, tokens=TOKENS)).start()
    yield running  # type: ignore[misc]
    running.stop()


def test_endpoint_specs_parse_and_bad_ones_are_refused() -> None:
    assert parse_endpoint("http://127.0.0.1:8080/v1=smol") == ("http://127.0.0.1:8080", "smol")
    assert parse_endpoint("endpoint:https://gpu.box:8000/") == ("https://gpu.box:8000", "")
    with pytest.raises(PlanError, match="http"):
        parse_endpoint("127.0.0.1:8080")
    with pytest.raises(PlanError, match="needs endpoints"):
        CompareSettings(workloads=("endpoint",))
    with pytest.raises(PlanError, match="at least 1"):
        CompareSettings(workloads=("endpoint",), endpoints=("http://h:1",), endpoint_concurrency=(0,))


@pytest.mark.timeout(120)
def test_endpoint_rows_measure_the_scripted_server(server: ScriptedServer, tmp_path: Path) -> None:
    settings = CompareSettings(workloads=("endpoint",), endpoints=(f"{server.url}=scripted",),
                               endpoint_concurrency=(1, 4), endpoint_prompts=8, endpoint_input_len=12,
                               endpoint_output_len=TOKENS)
    history = History(tmp_path / "history.db")
    try:
        runner = CompareRunner(settings, history)
        plan = runner.prepare()
        root = server.url.removesuffix("/v1")
        assert [c.label for c in plan] == [f"endpoint endpoint:{root} scripted concurrency {c}" for c in (1, 4)]
        session = runner.run()
        assert session.status == "ok"
        one, four = session.results
        for row, cap in ((one, 1), (four, 4)):
            m = row.metrics
            assert row.ok and row.device == f"endpoint:{root}" and row.backend == "scripted"
            assert (m["completed"], m["failed"], m["max_concurrency"]) == (8, 0, cap)
            # The scripted gaps (the load generator's own accuracy is tested to ±2 ms in tests/app/loadgen; the
            # slack here is for the two shared cores); the TTFT is at least the scripted one.
            assert TTFT_S * 1000 <= m["ttft_p50_ms"] < TTFT_S * 1000 + 60
            assert m["tpot_p50_ms"] == pytest.approx(GAP_S * 1000, abs=4)
            assert m["user_tokens_per_s"] == pytest.approx(1 / GAP_S, rel=0.25)
            assert m["ttft_p50_ms"] <= m["ttft_p99_ms"] and m["max_concurrent_requests"] <= cap
            assert row.run_id is not None and len(row.samples["ttft_ms"]) == 8
        # Four in flight give about four times the output rate of one.
        assert four.metrics["output_tokens_per_s"] > 2.5 * one.metrics["output_tokens_per_s"]
        # Each point is a serve-bench run of this session, with its per-request samples.
        runs = {r["id"]: r for r in history.runs(engine="serve-bench", compare_id=session.id)}
        assert set(runs) == {one.run_id, four.run_id}
        assert len(history.samples(str(one.run_id), "ttft_ms")["ttft_ms"]) == 8
        served_bodies = [s.body for s in server.served]
        assert len(served_bodies) == 16 and all(b["model"] == "scripted" for b in served_bodies)
    finally:
        history.close()

    (table,) = build_tables([session])
    assert table.workload == "endpoint" and table.headers[:4] == ["endpoint", "model", "load", "output t/s"]
    assert [r[2] for r in table.rows] == ["concurrency 1", "concurrency 4"]
    assert "Endpoints under load" in to_markdown([session])
    rows = list(csv.DictReader(io.StringIO(to_csv([session]))))
    assert {r["workload"] for r in rows} == {"endpoint"} and len(rows) == 2
    exported = json.loads(to_json([session]))
    assert exported["sessions"][0]["results"][1]["metrics"]["max_concurrency"] == 4


@pytest.mark.timeout(120)
def test_a_dead_endpoint_is_a_failed_row_and_cancel_stops(server: ScriptedServer, tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    try:
        settings = CompareSettings(workloads=("endpoint",), endpoints=("http://127.0.0.1:9",),
                                   endpoint_concurrency=(1,), endpoint_prompts=2)
        session = CompareRunner(settings, history).run()
        (row,) = session.results
        assert row.status == "failed" and "/v1/models" in row.flags[0].message  # no model given, none found
        slow = ScriptedServer(Script(ttft_s=0.05, gap_s=0.05, tokens=20)).start()  # 1 s per request
        try:
            settings = CompareSettings(workloads=("endpoint",), endpoints=(slow.url,),
                                       endpoint_concurrency=(1, 2), endpoint_prompts=16)
            runner = CompareRunner(settings, history)
            timer = threading.Timer(1.5, runner.cancel)
            timer.start()
            session = runner.run()
            timer.join()
        finally:
            slow.stop()
        assert session.status == "cancelled" and [r.status for r in session.results] == ["cancelled"]
        assert len(slow.served) < 16  # it stopped sending
    finally:
        history.close()


@pytest.mark.timeout(120)
def test_cli_endpoints_flag_prints_and_exports(server: ScriptedServer, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.json"
    code = main(["compare", "--endpoints", server.url, "--endpoint-concurrency", "1,2",
                 "--endpoint-prompts", "4", "--endpoint-lengths", "8,3", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Endpoints under load" in captured.out and "concurrency 2" in captured.out
    rows = json.loads(out.read_text())["sessions"][0]["results"]
    assert [r["backend"] for r in rows] == ["scripted", "scripted"]  # the model /v1/models lists
    assert [r["metrics"]["completed"] for r in rows] == [4, 4]
    assert main(["compare", "--workload", "endpoint"]) == 2
    assert "needs endpoints" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_rates_give_goodput_rows_within_and_outside_the_slos(server: ScriptedServer, tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    try:
        def run(slos: str) -> list[ResultRow]:
            settings = CompareSettings(workloads=("endpoint",), endpoints=(f"{server.url}=scripted",),
                                       endpoint_concurrency=(1,), endpoint_rates=(20.0, 40.0), endpoint_prompts=8,
                                       endpoint_input_len=8, endpoint_output_len=TOKENS, endpoint_goodput=slos)
            return CompareRunner(settings, history).run().results

        capped, slow, fast = run("ttft:2000,e2el:5000")  # every request is within these
        assert capped.variant == "concurrency 1" and "request_rate" not in capped.metrics
        assert [r.variant for r in (slow, fast)] == ["rate 20 req/s", "rate 40 req/s"]
        for row, rate in ((slow, 20.0), (fast, 40.0)):
            assert row.metrics["request_rate"] == rate and row.metrics["completed"] == 8
            assert row.metrics["request_goodput"] == pytest.approx(row.metrics["requests_per_s"])
        # The arrivals are spread to end at count/rate (as vLLM): the faster rate finishes sooner.
        assert fast.metrics["requests_per_s"] > slow.metrics["requests_per_s"]
        strict = run("ttft:1")  # no request answers its first token within 1 ms
        assert all(r.metrics["request_goodput"] == 0 for r in strict)
        assert "request_goodput" not in run("")[0].metrics  # no SLOs, no goodput figure
    finally:
        history.close()
    with pytest.raises(PlanError, match="NAME:MILLISECONDS"):
        CompareSettings(workloads=("endpoint",), endpoints=("http://h:1",), endpoint_goodput="ttft=5")
    with pytest.raises(PlanError, match="above 0"):
        CompareSettings(workloads=("endpoint",), endpoints=("http://h:1",), endpoint_rates=(0.0,))
