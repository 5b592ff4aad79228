"""Recording runs in the history through a real worker process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from app.discovery import register_spec, unregister_spec
from app.history import History
from app.messages import Partial
from app.recording import run_recorded
from app.supervisor import WorkerClient
from tests.support.echo_engine import SPEC


@pytest.fixture(scope="module")
def client() -> Iterator[WorkerClient]:
    register_spec(SPEC)
    worker = WorkerClient(SPEC, threads=1)
    worker.load("echo-model", "cpu")
    yield worker
    worker.close()
    unregister_spec(SPEC.id)


def test_ok_run_stores_metrics_samples_and_series(client: WorkerClient, history: History) -> None:
    outcome = run_recorded(client, "stream", {"count": 20, "delay": 0.02}, history=history)
    assert outcome.ok
    row = history.get_run(outcome.run_id)
    assert row["status"] == "ok" and row["engine"] == "echo" and row["model_id"] == "echo-model"
    assert row["worker_pid"] == client.pid and row["metrics"]["tokens"] == 20
    assert "peak_rss_mb" in row["metrics"]  # resource sampling of the worker
    series = history.samples(outcome.run_id)
    assert len(series["token_ms"]) == 20 and [v for _, v in series["index"]] == list(range(20))
    assert series["rss_mb"] and all(v > 1 for _, v in series["rss_mb"])


def test_failed_and_cancelled_runs_say_so(client: WorkerClient, history: History) -> None:
    failed = run_recorded(client, "fail", history=history)
    assert failed.status == "failed" and failed.error_kind == "bad_input"
    assert history.get_run(failed.run_id)["error"] == "that input is wrong"

    seen: list[int] = []

    def cancel_after_three(event: object) -> None:
        if isinstance(event, Partial):
            seen.append(1)
            if len(seen) == 3:
                client.cancel(outcome_holder[0])

    outcome_holder: list[str] = []
    cancelled = run_recorded(client, "stream", {"count": 10000, "delay": 0.005}, history=history,
                             on_event=cancel_after_three,
                             on_start=lambda run_id, handle: outcome_holder.append(handle.request_id))
    assert cancelled.status == "cancelled"
    assert history.get_run(cancelled.run_id)["status"] == "cancelled"


def test_crashed_worker_leaves_a_crashed_row(history: History) -> None:
    worker = WorkerClient(SPEC)
    try:
        worker.load("m")

        def kill_on_first(event: object) -> None:
            if isinstance(event, Partial) and worker.pid:
                os.kill(worker.pid, signal.SIGKILL)

        outcome = run_recorded(worker, "stream", {"count": 100000, "delay": 0.01}, history=history,
                               on_event=kill_on_first)
        assert outcome.status == "crashed"
        row = history.get_run(outcome.run_id)
        assert row["status"] == "crashed" and "SIGKILL" in row["error"]
    finally:
        worker.close()
