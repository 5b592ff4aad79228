"""A real comparison on this machine's CPU: what is stored, kept apart, flagged; failures and cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.compare.events import ConfigDone, ConfigStarted, LiveSample, PlanReady, SessionDone
from app.compare.plan import CompareSettings
from app.compare.runner import CompareRunner, cpu_only_report
from app.compare.store import CompareStore
from app.history import History
from tests.app.compare.compare_support import SMALL, SmallRun

# The session-wide SMALL comparison (LLM with a derived quantization and its quality, vision, Bayes) runs in
# the first of these tests to need it: its set-up counts in that test's time.
pytestmark = pytest.mark.timeout(900)


def test_every_configuration_is_stored_with_the_machine(small_run: SmallRun) -> None:
    session = small_run.session
    assert session.status == "ok"
    assert [(r.workload, r.variant if r.workload == "bayes" else r.precision) for r in session.results] == [
        ("llm", "Q4_1"), ("llm", "Q8_0"), ("vision", "fp32"), ("vision", "int8"), ("bayes", "jt"),
        ("bayes", "lw")]
    assert all(r.ok for r in session.results), [r.flags for r in session.results]
    machine = session.machine
    assert machine["cpu"]["model"] and machine["ram_bytes"] > 0 and machine["os"]
    assert machine["versions"]["onnxruntime"] and machine["threads"]["worker_env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert len(machine["id"]) == 12
    assert ("no GPU" in machine["label"]) == (not [g for g in machine["gpus"] if g["kind"] == "gpu"])
    assert CompareSettings.from_dict(session.settings) == SMALL
    # Reading it back from the database gives the same rows.
    again = CompareStore(small_run.history).session(session.id)
    assert [r.to_dict() for r in again.results] == [r.to_dict() for r in session.results]


def test_cold_numbers_are_kept_apart_from_warm_ones(small_run: SmallRun) -> None:
    for row in small_run.session.results:
        assert row.metrics["cold_start_s"] > 0 and row.metrics["cold_first_ms"] > 0, row.label
    llm = small_run.rows("llm")[0]
    assert len(llm.samples["pp_tokens_per_s"]) == len(llm.samples["tg_tokens_per_s"]) == SMALL.repeat
    assert len(llm.samples["ttft_ms"]) == SMALL.repeat
    assert llm.metrics["tg_tokens_per_s"] > 0 and llm.metrics["pp_tokens_per_s"] > 0
    assert llm.metrics["ttft_median_ms"] < llm.metrics["cold_start_s"] * 1000 + llm.metrics["cold_first_ms"]
    vision = small_run.rows("vision")[0]
    for batch in SMALL.batch_sizes:
        assert len(vision.samples[f"latency_ms_b{batch}"]) == SMALL.repeat
        assert vision.metrics[f"b{batch}_latency_p90_ms"] >= vision.metrics[f"b{batch}_latency_min_ms"]
    assert vision.metrics["latency_median_ms"] == vision.metrics["b1_latency_median_ms"]
    bayes = small_run.rows("bayes")[0]
    assert len(bayes.samples["query_ms"]) == SMALL.repeat and bayes.metrics["compile_ms"] > 0


def test_every_sample_is_in_the_history_under_the_session_id(small_run: SmallRun) -> None:
    history = small_run.history
    runs = history.runs(compare_id=small_run.session.id)
    assert runs and all(r["status"] == "ok" for r in runs)
    for row in small_run.session.results:
        assert row.run_id in {r["id"] for r in runs}
    vision = small_run.rows("vision")[0]
    series = history.samples(vision.run_id)
    latency = next(v for k, v in series.items() if k.endswith("_b1_latency_ms"))
    assert [value for _t, value in latency] == pytest.approx(vision.samples["latency_ms_b1"])
    derived = small_run.rows("llm")[1]
    assert derived.metrics["model_bytes"] > small_run.rows("llm")[0].metrics["model_bytes"]
    assert any(r["op"] == "quantize" for r in runs)


def test_agreement_with_the_fp32_cpu_reference_is_measured_and_flagged(small_run: SmallRun) -> None:
    fp32, int8 = small_run.rows("vision")
    assert fp32.metrics["top1_agreement"] == 1.0 and not fp32.has_flag("disagrees")
    assert fp32.metrics["agreement_images"] == 4
    # int8 may or may not change an answer on the four photos; the flag must match what was measured.
    assert int8.has_flag("disagrees") == (int8.metrics["top1_agreement"] < 1.0)
    if int8.has_flag("disagrees"):
        assert "of 4 sample images" in next(f.message for f in int8.flags if f.code == "disagrees")


def test_approximate_inference_is_scored_against_the_exact_answer(small_run: SmallRun) -> None:
    jt, lw = small_run.rows("bayes")
    assert jt.metrics["max_error"] < 1e-9
    assert 0 < lw.metrics["max_error"] < 0.1 and lw.has_flag("approximate")
    assert jt.metrics["evidence_nodes"] == lw.metrics["evidence_nodes"] == 5


def test_events_describe_the_run_in_order(small_run: SmallRun) -> None:
    kinds = [type(e) for e in small_run.events]
    assert kinds[0] is PlanReady and kinds[-1] is SessionDone
    assert kinds.count(ConfigStarted) == kinds.count(ConfigDone) == len(small_run.session.results)
    assert any(isinstance(e, LiveSample) and "latency" in e.series for e in small_run.events)


def test_a_failing_configuration_is_recorded_and_the_rest_still_run(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db")
    try:
        settings = CompareSettings(workloads=("bayes",), devices=("cpu",), bayes_network="no-such-network",
                                   bayes_methods=("jt", "ve"), repeat=1)
        report = cpu_only_report("the probe broke")
        session = CompareRunner(settings, history, device_report=report).run()
    finally:
        history.close()
    assert session.meta["probe_errors"] == {"probe": "the probe broke"}
    assert session.status == "failed" and len(session.results) == 2
    for row in session.results:
        assert row.status == "failed"
        assert "no file or catalogue network named 'no-such-network'" in row.flags[0].message


def test_cancel_stops_the_running_configuration_and_keeps_an_honest_session(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db")
    started = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, LiveSample):
            started.set()

    settings = CompareSettings(workloads=("bayes",), devices=("cpu",), bayes_methods=("lw", "jt"),
                               bayes_samples=20_000, repeat=200, warmup=0)
    runner = CompareRunner(settings, history, on_event=on_event)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.setdefault("session", runner.run()))
    thread.start()
    try:
        assert started.wait(120), "no query finished within two minutes"
        runner.cancel()
        thread.join(60)
        assert not thread.is_alive()
    finally:
        runner.cancel()
        thread.join(60)
        history.close()
    session = result["session"]
    assert session.status == "cancelled"  # type: ignore[attr-defined]
    assert [r.status for r in session.results] == ["cancelled"]  # type: ignore[attr-defined]
