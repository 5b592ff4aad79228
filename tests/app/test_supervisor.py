"""The worker supervisor with real spawned processes and the echo test engine."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator

import pytest

from app.discovery import register_spec, unregister_spec
from app.errors import EngineDeadError, RequestCancelledError, RequestFailed
from app.messages import Cancelled, EngineDead, Partial, Progress, Result, Started
from app.supervisor import InProcessClient, WorkerClient
from tests.support.cancelling import cancel_after
from tests.support.echo_engine import SPEC


@pytest.fixture(autouse=True)
def _echo_registered() -> Iterator[None]:
    register_spec(SPEC)
    yield
    unregister_spec(SPEC.id)


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerClient]:
    client = WorkerClient(SPEC, threads=1, cancel_grace_s=1.0)
    client.load("m1", "cpu")
    yield client
    client.close()


@pytest.fixture
def inprocess() -> Iterator[InProcessClient]:
    client = InProcessClient(SPEC)
    client.load("m1", "cpu")
    yield client
    client.close()


def test_load_reports_progress_and_info() -> None:
    with WorkerClient(SPEC) as client:
        handle = client.submit_load("model-a", "cpu")
        events = list(handle.events(timeout=60))
        assert isinstance(events[0], Started)
        assert [e.done for e in events if isinstance(e, Progress)][-1] == 3
        assert isinstance(events[-1], Result)
        assert events[-1].data["model_id"] == "model-a"
        assert events[-1].data["pid"] == client.pid != os.getpid()


def test_streaming_delivers_every_partial_in_order(worker: WorkerClient) -> None:
    handle = worker.submit("stream", {"count": 50})
    partials = [e for e in handle.events(timeout=30) if isinstance(e, Partial)]
    assert [p.data["index"] for p in partials] == list(range(50))
    assert handle.result()["metrics"]["tokens"] == 50


def test_worker_environment_sets_passive_openmp(worker: WorkerClient) -> None:
    env = worker.call("env")
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


def test_an_engine_can_unset_a_default_variable_in_its_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # The LLM engine leaves OpenMP's wait policy to libgomp, as llama.cpp's own tools run.
    spec = dataclasses.replace(SPEC, worker_env=(("OMP_WAIT_POLICY", ""), ("WORKBENCH_ECHO", "x")))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # what the GUI and the tests set in the parent
    with WorkerClient(spec, threads=1) as client:
        client.load("m1", "cpu")
        assert client.call("env") == {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": "1"}


def test_cancel_mid_stream_stops_between_tokens(worker: WorkerClient) -> None:
    handle = worker.submit("stream", {"count": 1000, "delay": 0.01})
    received = len(cancel_after(handle, 5, timeout=30))
    assert isinstance(handle.wait(), Cancelled)
    assert 5 <= received < 100
    with pytest.raises(RequestCancelledError):
        handle.result()
    # the worker is still usable after a cancel
    assert worker.call("pid")["pid"] == worker.pid


def test_engine_errors_arrive_as_failures(worker: WorkerClient) -> None:
    with pytest.raises(RequestFailed) as bad:
        worker.call("fail")
    assert bad.value.kind == "bad_input"
    assert "wrong" in bad.value.message
    with pytest.raises(RequestFailed) as bug:
        worker.call("bug")
    assert bug.value.kind == "internal"
    assert "ValueError" in bug.value.message and "Traceback" in bug.value.detail


def test_load_failure_is_a_clear_error() -> None:
    with WorkerClient(SPEC) as client, pytest.raises(RequestFailed, match="no such model"):
        client.load("missing")


def test_sigkill_mid_stream_becomes_engine_dead_and_restart_works() -> None:
    client = WorkerClient(SPEC)
    try:
        client.load("m1")
        old_pid = client.pid
        handle = client.submit("stream", {"count": 100000, "delay": 0.005})
        for event in handle.events(timeout=30):
            if isinstance(event, Partial) and event.data["index"] == 3:
                os.kill(old_pid, signal.SIGKILL)
        final = handle.wait(30)
        assert isinstance(final, EngineDead)
        assert final.signal == signal.SIGKILL
        assert "killed" in final.message
        with pytest.raises(EngineDeadError) as dead:
            handle.result()
        assert dead.value.signal == signal.SIGKILL
        # a request sent to the dead worker fails at once, it does not hang
        with pytest.raises(EngineDeadError):
            client.call("pid", timeout=10)
        client.restart()
        assert client.alive and client.pid != old_pid
        assert client.model_info["model_id"] == "m1"  # the model was reloaded
        assert client.call("pid")["pid"] == client.pid
    finally:
        client.close()


def test_segfault_reports_signal_and_stderr_tail() -> None:
    with WorkerClient(SPEC) as client:
        client.load("m1")
        with pytest.raises(EngineDeadError) as dead:
            client.call("crash", timeout=30)
        assert dead.value.signal == signal.SIGSEGV
        assert "segmentation fault" in dead.value.message
        assert "crashing now" in dead.value.stderr_tail


def test_worker_that_ignores_cancel_is_killed_after_grace() -> None:
    client = WorkerClient(SPEC, cancel_grace_s=0.5)
    try:
        client.load("m1")
        handle = client.submit("hang")
        next(e for e in handle.events(timeout=30) if isinstance(e, Partial))
        started = time.monotonic()
        handle.cancel()
        final = handle.wait(20)
        assert isinstance(final, Cancelled)
        assert final.data["killed_after_grace_s"] == 0.5
        assert 0.4 < time.monotonic() - started < 10
        assert not client.alive
        client.restart()
        assert client.call("pid")["pid"] == client.pid
    finally:
        client.close()


def test_close_leaves_no_process() -> None:
    import psutil

    client = WorkerClient(SPEC)
    pid = client.pid
    client.load("m1")
    client.close()
    assert (pid is not None and not psutil.pid_exists(pid)) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_inprocess_client_has_the_same_behaviour(inprocess: InProcessClient) -> None:
    assert inprocess.pid is None
    assert inprocess.call("pid")["pid"] == os.getpid()
    handle = inprocess.submit("stream", {"count": 1000, "delay": 0.005})
    cancel_after(handle, 3, timeout=30)
    assert isinstance(handle.wait(), Cancelled)
    with pytest.raises(RequestFailed):
        inprocess.call("fail")


# --- an engine's concurrent_ops run side by side in the worker ------------------------------------------
@pytest.fixture
def concurrent_worker() -> Iterator[WorkerClient]:
    from tests.support.concurrent_echo import SPEC as CONCURRENT

    register_spec(CONCURRENT)
    client = WorkerClient(CONCURRENT, threads=1, cancel_grace_s=2.0)
    client.load("m1", "cpu", {"parallel": 2})
    yield client
    client.close()
    unregister_spec(CONCURRENT.id)


def _partial_times(events: list[object]) -> list[float]:
    return [e.data["t"] for e in events if isinstance(e, Partial)]


def test_concurrent_ops_run_side_by_side(concurrent_worker: WorkerClient) -> None:
    first = concurrent_worker.submit("stream", {"count": 8, "delay": 0.05})
    second = concurrent_worker.submit("stream", {"count": 8, "delay": 0.05})
    a, b = list(first.events(timeout=30)), list(second.events(timeout=30))
    ta, tb = _partial_times(a), _partial_times(b)
    assert isinstance(a[-1], Result) and isinstance(b[-1], Result)
    assert len(ta) == len(tb) == 8
    assert tb[0] < ta[-1] and ta[0] < tb[-1]  # interleaved: the second did not wait for the first


def test_cancel_one_concurrent_request_leaves_the_other(concurrent_worker: WorkerClient) -> None:
    victim = concurrent_worker.submit("stream", {"count": 1000, "delay": 0.01})
    other = concurrent_worker.submit("stream", {"count": 20, "delay": 0.01})
    for event in victim.events(timeout=30):
        if isinstance(event, Partial) and event.data["index"] == 3:
            victim.cancel()
    assert isinstance(victim.wait(30), Cancelled)
    assert other.result(timeout=30)["metrics"]["tokens"] == 20


def test_load_waits_for_running_concurrent_requests(concurrent_worker: WorkerClient) -> None:
    running = concurrent_worker.submit("stream", {"count": 10, "delay": 0.05})
    load = concurrent_worker.submit_load("m2", "cpu", {"parallel": 2})
    stream_events = list(running.events(timeout=30))
    load_events = list(load.events(timeout=30))
    started = next(e for e in load_events if isinstance(e, Started))
    assert isinstance(stream_events[-1], Result) and isinstance(load_events[-1], Result)
    assert started.t >= max(_partial_times(stream_events))  # the model did not change under the stream


def test_crash_during_concurrent_requests_ends_them_all(concurrent_worker: WorkerClient) -> None:
    streams = [concurrent_worker.submit("stream", {"count": 100000, "delay": 0.01}) for _ in range(2)]
    for event in streams[0].events(timeout=30):
        if isinstance(event, Partial) and event.data["index"] == 3:
            break
    with pytest.raises(EngineDeadError):
        concurrent_worker.call("crash", timeout=30)
    for handle in streams:
        assert isinstance(handle.wait(30), EngineDead)
