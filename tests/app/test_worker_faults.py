"""Workers under faults (issue 17, item 5): a worker whose app was killed exits promptly even inside a long
engine call, and a stopped worker (SIGSTOP) is found and killed within the grace period even when
nobody sends a cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.discovery import register_spec, unregister_spec
from app.messages import Cancelled, EngineDead, Partial
from app.supervisor import RequestHandle, WorkerClient
from tests.support.echo_engine import SPEC

REPO = Path(__file__).resolve().parents[2]
EXIT_WITHIN_S = 4.0

# A small app: starts a worker, gives it a request that runs for minutes, says the worker's PID, waits.
_ECHO_PARENT = """
import time
from app.discovery import register_spec
from app.messages import Partial
from app.supervisor import RequestHandle, WorkerClient
from tests.support.echo_engine import SPEC
register_spec(SPEC)
client = WorkerClient(SPEC, threads=1)
client.load("m", "cpu")
handle = client.submit("hang")
for event in handle.events(timeout=60):
    if isinstance(event, Partial):
        break
print(client.pid, flush=True)
time.sleep(600)
"""

_LLM_PARENT = """
import time
from app.messages import Started
from app.supervisor import start_engine
client = start_engine("llm", threads=1)
client.load("smollm2-135m-instruct", "cpu", {"n_ctx": 2048})
# Prompt evaluation of 2048 tokens, ten times: one native llama.cpp call of many seconds each.
handle = client.submit("bench", {"n_prompt": 2048, "n_gen": 0, "repetitions": 10, "warmup": False})
for event in handle.events(timeout=120):
    if isinstance(event, Started):
        break
time.sleep(1.0)
print(client.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture(autouse=True)
def _echo_registered() -> Iterator[None]:
    register_spec(SPEC)
    yield
    unregister_spec(SPEC.id)


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; its new parent has not reaped it yet
    except psutil.NoSuchProcess:
        return True


def _kill_parent_and_time_worker_exit(script: str, busy_cpu: bool) -> float:
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    worker: psutil.Process | None = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), parent.stderr.read() if parent.stderr else line
        worker = psutil.Process(int(line))
        if busy_cpu:
            # The worker really is inside the engine call, using CPU, when its app dies (the share it gets on
            # a busy machine varies, so only ask that it works).
            before = sum(worker.cpu_times()[:2])
            time.sleep(1.0)
            assert sum(worker.cpu_times()[:2]) - before > 0.05
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        killed_at = time.monotonic()
        while not _gone(worker) and time.monotonic() - killed_at < 30:
            time.sleep(0.05)
        return time.monotonic() - killed_at
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for stream in (parent.stdout, parent.stderr):
            if stream is not None:
                stream.close()
        if worker is not None and not _gone(worker):
            worker.kill()


def test_worker_exits_promptly_when_its_app_is_killed_mid_request() -> None:
    assert _kill_parent_and_time_worker_exit(_ECHO_PARENT, busy_cpu=False) < EXIT_WITHIN_S


def test_llm_worker_stops_a_long_prompt_evaluation_when_its_app_is_killed() -> None:
    took = _kill_parent_and_time_worker_exit(_LLM_PARENT, busy_cpu=True)
    assert took < EXIT_WITHIN_S


def _stopped_mid_stream(client: WorkerClient) -> RequestHandle:
    handle = client.submit("stream", {"count": 100000, "delay": 0.01})
    for event in handle.events(timeout=30):
        if isinstance(event, Partial) and event.data["index"] == 3:
            assert client.pid is not None
            os.kill(client.pid, signal.SIGSTOP)
            break
    return handle


def test_a_stopped_worker_is_killed_after_the_grace_period_without_a_cancel() -> None:
    # Nothing cancels here, as when the caller ignores SIGINT: the watch alone must end the wait.
    client = WorkerClient(SPEC, threads=1, cancel_grace_s=1.0)
    try:
        client.load("m")
        handle = _stopped_mid_stream(client)
        stopped_at = time.monotonic()
        final = handle.wait(15)
        took = time.monotonic() - stopped_at
        assert isinstance(final, EngineDead), final
        assert 1.0 <= took < 4.0
        assert "was stopped" in final.message and final.signal == signal.SIGKILL
        client.restart()
        assert client.call("pid")["pid"] == client.pid
    finally:
        client.close()


def test_cancelling_a_stopped_worker_kills_it_after_the_grace_period() -> None:
    client = WorkerClient(SPEC, threads=1, cancel_grace_s=1.0)
    try:
        client.load("m")
        handle = _stopped_mid_stream(client)
        cancelled_at = time.monotonic()
        handle.cancel()
        final = handle.wait(15)
        assert isinstance(final, Cancelled) and final.data.get("killed_after_grace_s") == 1.0
        assert time.monotonic() - cancelled_at < 4.0
    finally:
        client.close()


def test_an_idle_stopped_worker_is_left_alone_and_resumes() -> None:
    client = WorkerClient(SPEC, threads=1, cancel_grace_s=0.5)
    try:
        client.load("m")
        assert client.pid is not None
        os.kill(client.pid, signal.SIGSTOP)
        time.sleep(1.5)  # three grace periods with no request waiting
        os.kill(client.pid, signal.SIGCONT)
        assert client.call("pid", timeout=10)["pid"] == client.pid
    finally:
        client.close()
