"""What goes wrong becomes failed requests with reasons, never an exception or a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from app.loadgen.config import BenchConfig
from app.loadgen.runner import BenchProgress, run_benchmark
from app.loadgen.scripted_server import ScriptedServer


def _config(url: str, **extra: object) -> BenchConfig:
    settings: dict[str, object] = dict(base_url=url, model="scripted", dataset="text", num_prompts=3, input_len=8,
                                       output_len=6, tokenizer="none", measure_energy=False, request_timeout_s=5.0)
    settings.update(extra)
    return BenchConfig(**settings)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(30)
def test_connection_refused() -> None:
    result = run_benchmark(_config(f"http://127.0.0.1:{_free_port()}/v1"))
    assert (result.metrics["completed"], result.metrics["failed"]) == (0, 3)
    assert all(o.error.startswith("ConnectError") for o in result.outputs)
    assert result.status == "failed"
    assert any("every request failed" in w for w in result.warnings)


@pytest.mark.timeout(30)
def test_wrong_api_key_is_a_401_and_the_right_one_passes(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(api_key="sesame", tokens=4)
    refused = run_benchmark(_config(server.url, api_key="wrong"))
    assert refused.metrics["failed"] == 3
    assert all(o.error == "HTTP 401 Unauthorized: invalid API key" for o in refused.outputs)
    allowed = run_benchmark(_config(server.url, api_key="sesame"))
    assert (allowed.metrics["completed"], allowed.metrics["total_output_tokens"]) == (3, 12)


@pytest.mark.timeout(30)
def test_http_500_before_the_stream(scripted: Callable[..., ScriptedServer]) -> None:
    result = run_benchmark(_config(scripted(fail="http500").url))
    assert result.metrics["failed"] == 3
    assert all(o.error == "HTTP 500 Internal Server Error: scripted failure" for o in result.outputs)


@pytest.mark.timeout(30)
def test_error_event_in_the_middle_of_the_stream(scripted: Callable[..., ScriptedServer]) -> None:
    result = run_benchmark(_config(scripted(fail="error-event", fail_after=2, tokens=6).url))
    assert result.metrics["failed"] == 3
    assert all(o.error == "error event after 2 chunks: scripted failure mid-stream" for o in result.outputs)
    assert result.to_vllm_json(detailed=True)["errors"] == [o.error for o in result.outputs]


@pytest.mark.timeout(30)
def test_connection_cut_in_the_middle_of_the_stream(scripted: Callable[..., ScriptedServer]) -> None:
    result = run_benchmark(_config(scripted(fail="abort", fail_after=3, tokens=6).url))
    assert result.metrics["failed"] == 3
    for out in result.outputs:
        assert "(after 3 chunks)" in out.error
        assert out.error.split(":")[0] in ("RemoteProtocolError", "ReadError")


@pytest.mark.timeout(30)
def test_a_server_that_never_answers_times_out(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(fail="hang")
    started = time.perf_counter()
    result = run_benchmark(_config(server.url, request_timeout_s=0.5, max_concurrency=3))
    assert time.perf_counter() - started < 5
    assert result.metrics["failed"] == 3
    assert all(o.error.startswith("timeout (ReadTimeout) after 0.") for o in result.outputs)


@pytest.mark.timeout(30)
def test_cancel_keeps_what_finished_and_returns_promptly(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.01, gap_s=0.02, tokens=10)  # 0.2 s per request, one at a time
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_after_two(progress: BenchProgress) -> None:  # like a Cancel button pressed mid-run
        if progress.done >= 2 and not cancel.is_set():
            cancelled_at.append(time.perf_counter())
            cancel.set()

    result = run_benchmark(_config(server.url, num_prompts=20, max_concurrency=1), cancel_after_two, cancel)
    assert time.perf_counter() - cancelled_at[0] < 1.0  # the request in flight is dropped, not awaited
    assert result.cancelled and result.status == "cancelled"
    assert 2 <= result.metrics["completed"] <= 3
    assert result.unfinished == 20 - result.metrics["completed"]
    assert result.metrics["failed"] == 0  # the request cut by the cancel is left out, not counted as failed
    assert result.to_vllm_json()["workbench_cancelled"] is True


@pytest.mark.timeout(30)
def test_a_reused_connection_closed_before_any_answer_is_sent_again(
        scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(tokens=4, drop_reused=1)
    result = run_benchmark(_config(server.url, max_concurrency=1))
    assert (result.metrics["completed"], result.metrics["failed"]) == (3, 0)
    assert sum(o.resent for o in result.outputs) == 1
    assert len(server.served) == 3  # the dropped send never reached the handler
    assert any("sent a second time" in w for w in result.warnings)
