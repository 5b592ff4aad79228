"""The LLM engine in its worker process: streaming over IPC, recording, stopping, and crashes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.conversations import ConversationStore
from app.errors import EngineDeadError, RequestFailed
from app.history import History
from app.messages import EngineDead, Partial
from app.recording import run_recorded
from app.supervisor import WorkerClient, start_engine
from tests.engines.llm.conftest import patch_u32
from tests.support.cancelling import cancel_after


@pytest.fixture(scope="module")
def worker(smollm2_path: Path) -> Iterator[WorkerClient]:
    client = start_engine("llm", threads=1)
    client.load(str(smollm2_path), "cpu", {"n_ctx": 512})
    yield client
    client.close()


def test_recorded_chat_streams_over_ipc_and_stores_the_series(worker: WorkerClient, history: History) -> None:
    arrivals: list[tuple[float, float]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, Partial):
            arrivals.append((event.data["t"], time.perf_counter()))

    outcome = run_recorded(worker, "chat", {"prompt": "Name three colors.", "max_tokens": 10,
                                            "temperature": 0.0}, history=history, engine="llm",
                           model_id="smollm2-135m-instruct", device="cpu", on_event=on_event)
    assert outcome.ok, outcome.error
    assert arrivals and all(sent <= seen for sent, seen in arrivals)  # one clock on Linux
    run = history.get_run(outcome.run_id)
    assert run["status"] == "ok" and run["engine"] == "llm" and run["op"] == "chat"
    assert run["metrics"]["gen_tokens_per_s"] > 0 and run["metrics"]["ttft_ms"] > 0
    assert run["result"]["text"] == outcome.result["text"] if outcome.result else False
    samples = history.samples(outcome.run_id, "token_latency_ms")["token_latency_ms"]
    assert len(samples) == run["metrics"]["gen_tokens"]
    assert run["model_hash"]  # the file fingerprint identifies the model across runs


def test_stop_mid_answer_over_ipc(worker: WorkerClient, history: History) -> None:
    handle = worker.submit("chat", {"prompt": "Write a long poem about the sea.", "max_tokens": 300})
    cancel_after(handle, 4, timeout=60)
    result = handle.result()
    assert result["stop_reason"] == "cancelled" and result["metrics"]["gen_tokens"] < 20
    assert worker.alive  # stopped between tokens, well within the grace period


def test_bad_request_keeps_the_worker(worker: WorkerClient) -> None:
    with pytest.raises(RequestFailed, match="no op"):
        worker.call("nope")
    assert worker.call("count", {"text": "hello"})["tokens"] >= 1


def test_crash_mid_chat_is_reported_and_nothing_is_lost(smollm2_path: Path, history: History) -> None:
    store = ConversationStore(history)
    conversation = store.create(model_id="smollm2-135m-instruct")
    store.append(conversation.id, "user", "Tell me a long story.")
    with start_engine("llm", threads=1) as client:
        client.load(str(smollm2_path), "cpu", {"n_ctx": 512})
        pid = client.pid
        assert pid is not None

        def kill_on_third(event: Any, seen: list[int] = [0]) -> None:  # noqa: B006 - a counter
            if isinstance(event, Partial):
                seen[0] += 1
                if seen[0] == 3:
                    os.kill(pid, signal.SIGSEGV)  # what a native crash looks like to the supervisor

        outcome = run_recorded(client, "chat", {"messages": store.context(conversation.id), "max_tokens": 200},
                               history=history, engine="llm", on_event=kill_on_third)
        assert outcome.status == "crashed"
        assert isinstance(outcome.final, EngineDead)
        assert "segmentation fault" in (outcome.error or "")
        assert history.get_run(outcome.run_id)["status"] == "crashed"
        # The conversation is intact and the engine comes back with the same model.
        assert [m.content for m in store.path(conversation.id)] == ["Tell me a long story."]
        client.restart()
        again = client.call("chat", {"messages": store.context(conversation.id), "max_tokens": 4})
        assert again["gen_tokens"] >= 1


def test_corrupt_file_is_refused_before_llama_cpp(tmp_path: Path, smollm2_path: Path) -> None:
    bad = tmp_path / "damaged.gguf"
    bad.write_bytes(smollm2_path.read_bytes()[:3_000_000])
    with start_engine("llm", threads=1) as client:
        with pytest.raises(RequestFailed, match="truncated"):
            client.load(str(bad), "cpu", {})
        assert client.alive


def test_file_that_crashes_llama_cpp_only_kills_the_worker(
    model_copy: Callable[[str], Path], history: History,
) -> None:
    # Well-formed GGUF, absurd layer count: llama.cpp aborts on its own assertion while loading.
    bad = patch_u32(model_copy("thousand-layers.gguf"), "llama.block_count", 1000)
    store = ConversationStore(history)
    conversation = store.create()
    store.append(conversation.id, "user", "kept")
    with start_engine("llm", threads=1) as client:
        with pytest.raises(EngineDeadError) as caught:
            client.load(str(bad), "cpu", {})
        assert caught.value.signal == signal.SIGABRT
        assert "aborted" in caught.value.message
        assert "GGML_ASSERT(hparams.n_layer_all > 0" in caught.value.message  # llama.cpp's own words
        assert not client.alive
    assert [m.content for m in store.path(conversation.id)] == ["kept"]
