"""ModelService with real worker processes: the echo test engine for every rule, real engines for the path."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from app.discovery import register_spec, unregister_spec
from app.history import History
from app.messages import Partial, Started
from app.recording import RunStatus
from app.service import Finished, Loaded, Loading, ModelService, Queued, ServiceBusy, SlotChanged
from tests.support.echo_engine import SPEC


@pytest.fixture(autouse=True)
def _echo_registered() -> Iterator[None]:
    register_spec(SPEC)
    yield
    unregister_spec(SPEC.id)


@pytest.fixture
def service(history_path: str) -> Iterator[ModelService]:
    history = History(history_path)
    svc = ModelService(history, queue_limit=4)
    yield svc
    svc.close()
    history.close()


def _events(ticket: object) -> list[object]:
    return list(ticket.events(timeout=60))  # type: ignore[attr-defined]


def test_first_use_loads_just_in_time_and_later_requests_reuse_the_slot(service: ModelService) -> None:
    first = _events(service.submit("echo", "m1", "stream", {"count": 3}))
    assert [type(e) for e in first[:1]] == [Loading]
    loaded = [e for e in first if isinstance(e, Loaded)]
    assert len(loaded) == 1 and loaded[0].info["model_id"] == "m1"
    assert first[-1].outcome.ok and first[-1].outcome.result["text"] == "tok0 tok1 tok2 "
    pid = service.slot("echo", "m1").info["pid"]

    second = _events(service.submit("echo", "m1", "pid"))
    assert not [e for e in second if isinstance(e, Loading | Loaded)]
    assert second[-1].outcome.result["pid"] == pid
    assert service.slot("echo", "m1").state == "ready"


def test_other_load_options_reload_the_model_in_the_same_worker(service: ModelService) -> None:
    service.submit("echo", "m1", "pid", options={"n_ctx": 512}).outcome(60)
    pid = service.slot("echo", "m1").info["pid"]
    events = _events(service.submit("echo", "m1", "pid", options={"n_ctx": 1024}))
    assert [e for e in events if isinstance(e, Loaded)], "a changed option must reload"
    assert events[-1].outcome.result["pid"] == pid  # a reload, not a new process
    other_threads = _events(service.submit("echo", "m1", "pid", options={"n_ctx": 1024}, threads=1))
    assert other_threads[-1].outcome.result["pid"] != pid  # a thread count is the worker's environment


def test_requests_run_in_submission_order_and_see_their_place_in_the_queue(service: ModelService) -> None:
    finished: list[str] = []
    tickets = [service.submit("echo", "m1", "stream", {"count": 2, "delay": 0.05},
                              on_event=lambda e, n=n: finished.append(n) if isinstance(e, Finished) else None)
               for n in ("a", "b", "c")]
    outcomes = [t.outcome(60) for t in tickets]
    assert all(o.ok for o in outcomes)
    assert finished == ["a", "b", "c"]
    queued = [e for e in _drain(tickets[2]) if isinstance(e, Queued)]
    assert [q.ahead for q in queued] == [2, 1]  # then it ran: one was running ahead of it at the end


def _drain(ticket: object) -> list[object]:
    return list(ticket.events(timeout=5))  # type: ignore[attr-defined]


def test_a_full_queue_refuses_with_its_length(service: ModelService) -> None:
    running = service.submit("echo", "m1", "stream", {"count": 100, "delay": 0.02})
    next(e for e in running.events(timeout=60) if isinstance(e, Partial))
    waiting = [service.submit("echo", "m1", "pid") for _ in range(4)]
    with pytest.raises(ServiceBusy) as refused:
        service.submit("echo", "m1", "pid")
    assert refused.value.queued == 4 and "busy" in str(refused.value) and "4 requests" in str(refused.value)
    running.cancel()
    assert running.outcome(60).status == RunStatus.CANCELLED
    assert all(t.outcome(60).ok for t in waiting)


def test_cancel_a_queued_request_drops_it_before_it_starts(service: ModelService) -> None:
    running = service.submit("echo", "m1", "stream", {"count": 20, "delay": 0.05})
    queued = service.submit("echo", "m1", "stream", {"count": 2})
    queued.cancel()
    outcome = queued.outcome(10)
    assert outcome.status == RunStatus.CANCELLED and "before it started" in (outcome.error or "")
    assert not [e for e in _drain(queued) if isinstance(e, Started)]
    assert running.outcome(60).ok


def test_cancel_a_running_request_keeps_what_it_streamed(service: ModelService) -> None:
    ticket = service.submit("echo", "m1", "stream", {"count": 1000, "delay": 0.01})
    for event in ticket.events(timeout=60):
        if isinstance(event, Partial) and event.data["index"] >= 3:
            ticket.cancel()
            break
    outcome = ticket.outcome(30)
    assert outcome.status == RunStatus.CANCELLED
    assert len(ticket.partials) >= 4
    assert service.submit("echo", "m1", "pid").outcome(60).ok  # the slot serves on


def test_a_crash_reports_the_reason_keeps_the_output_and_the_next_request_restarts(service: ModelService) -> None:
    changes: list[SlotChanged] = []
    service.subscribe(changes.append)
    before = service.submit("echo", "m1", "pid").outcome(60).result["pid"]
    crashed = service.submit("echo", "m1", "crash")
    outcome = crashed.outcome(60)
    assert outcome.status == RunStatus.CRASHED
    assert "segmentation fault" in (outcome.error or "") and "crashing now" in (outcome.error or "")
    assert crashed.partials == [{"text": "about to crash"}]
    assert any(c.state == "crashed" and "segmentation fault" in c.info.get("reason", "") for c in changes)
    after = service.submit("echo", "m1", "pid").outcome(60)
    assert after.ok and after.result["pid"] != before
    assert service.history is not None
    statuses = {r["op"]: r["status"] for r in service.history.runs(engine="echo")}
    assert statuses["crash"] == "crashed"


def test_idle_slots_unload_after_their_ttl(history_path: str) -> None:
    with ModelService(None, ttl_s=0.3) as svc:
        assert svc.submit("echo", "m1", "pid").outcome(60).ok
        assert svc.slot("echo", "m1") is not None
        deadline = time.monotonic() + 10
        while svc.slot("echo", "m1") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.slot("echo", "m1") is None
        again = _events(svc.submit("echo", "m1", "pid"))
        assert [e for e in again if isinstance(e, Loaded)]  # loaded again just in time


def test_least_recently_used_slot_is_evicted_under_a_small_budget() -> None:
    with ModelService(None, memory_budget_bytes=1) as svc:
        assert svc.submit("echo", "a", "pid").outcome(60).ok
        assert svc.submit("echo", "b", "pid").outcome(60).ok
        assert svc.slot("echo", "a") is None  # evicted for b
        assert svc.slot("echo", "b").state == "ready"
    with ModelService(None, memory_budget_bytes=64 << 30) as roomy:
        assert roomy.submit("echo", "a", "pid").outcome(60).ok
        assert roomy.submit("echo", "b", "pid").outcome(60).ok
        assert roomy.slot("echo", "a") is not None and roomy.slot("echo", "b") is not None


def test_eviction_skips_a_busy_slot() -> None:
    with ModelService(None, memory_budget_bytes=1) as svc:
        busy = svc.submit("echo", "a", "stream", {"count": 40, "delay": 0.05})
        next(e for e in busy.events(timeout=60) if isinstance(e, Partial))
        assert svc.submit("echo", "b", "pid").outcome(60).ok
        assert busy.outcome(60).ok  # not killed to make room


def test_two_slots_of_one_engine_serve_at_the_same_time() -> None:
    with ModelService(None) as svc:
        for model in ("a", "b"):
            svc.load("echo", model).outcome(60)
        start = time.monotonic()
        tickets = [svc.submit("echo", m, "stream", {"count": 10, "delay": 0.1}) for m in ("a", "b")]
        assert all(t.outcome(60).ok for t in tickets)
        elapsed = time.monotonic() - start
        assert elapsed < 1.8, f"the two slots ran one after the other ({elapsed:.2f} s)"
        pids = {svc.slot("echo", m).info["pid"] for m in ("a", "b")}
        assert len(pids) == 2


def test_load_failure_is_an_outcome_and_the_slot_stays_usable(service: ModelService) -> None:
    outcome = service.submit("echo", "missing", "pid").outcome(60)
    assert outcome.status == RunStatus.FAILED and outcome.error_kind == "not_found"
    assert "no such model" in (outcome.error or "")


def test_requests_are_recorded_in_the_history(service: ModelService) -> None:
    outcome = service.submit("echo", "m1", "stream", {"count": 3}, model_id="my-echo").outcome(60)
    assert service.history is not None
    row = service.history.get_run(outcome.run_id)
    assert row["status"] == "ok" and row["model_id"] == "my-echo" and row["op"] == "stream"
    assert service.submit("echo", "m1", "pid", record=False).outcome(60).run_id == ""


def test_a_larger_parallel_adds_runners_to_an_existing_slot() -> None:
    with ModelService(None, parallel=lambda _key, spec: int(spec.options.get("parallel", 1))) as svc:
        assert svc.submit("echo", "m1", "pid", options={"parallel": 1}).outcome(60).ok
        start = time.monotonic()
        # The echo engine runs one request at a time in its worker; two runners still hand it both at once,
        # so the queue no longer holds the second back on the service side.
        tickets = [svc.submit("echo", "m1", "stream", {"count": 3, "delay": 0.05}, options={"parallel": 2})
                   for _ in range(2)]
        assert all(t.outcome(60).ok for t in tickets)
        assert time.monotonic() - start < 30
        with svc._lock:
            slot = next(iter(svc._slots.values()))
        assert len(slot._threads) == 2
