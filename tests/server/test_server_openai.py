"""Conformance with the official ``openai`` client against a real uvicorn and the real SmolLM2 model."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from api_server_support import MODEL, Running

GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}
HELLO = [{"role": "user", "content": "Say hello."}]


def client(served: Running, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=kwargs.pop("api_key", "none"), max_retries=0,
                         timeout=120, **kwargs)


def api_runs(served: Running) -> list[dict[str, Any]]:
    return [r for r in served.history.runs() if "api" in (r.get("tags") or [])]


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def cancelled(run: dict[str, Any]) -> bool:
    result = run.get("result") or {}
    return run["status"] == "cancelled" or result.get("stop_reason") == "cancelled"


def test_chat_not_streamed_has_usage_and_is_a_history_run(served: Running) -> None:
    before = len(api_runs(served))
    answer = client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, **GREEDY)
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage is not None and answer.usage.prompt_tokens > 5
    assert 0 < answer.usage.completion_tokens <= 8
    runs = api_runs(served)
    assert len(runs) == before + 1
    run = runs[0]
    assert run["op"] == "chat" and run["model_id"] == MODEL and run["status"] == "ok"
    assert any(t.startswith("client:127.0.0.1:") for t in run["tags"])
    assert run["metrics"]["ttft_ms"] > 0 and "tpot_ms" in run["metrics"]


def test_chat_streamed_matches_not_streamed_and_reports_usage(served: Running) -> None:
    api = client(served)
    whole = api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10, **GREEDY)
    chunks = list(api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10, stream=True,
                                              stream_options={"include_usage": True}, **GREEDY))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens  # type: ignore[union-attr]


def test_stream_without_include_usage_sends_none(served: Running) -> None:
    chunks = list(client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4, stream=True,
                                                         **GREEDY))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


def test_completions_whole_and_streamed_with_logprobs(served: Running) -> None:
    api = client(served)
    whole = api.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=6, logprobs=2,
                                   **GREEDY)
    choice = whole.choices[0]
    assert choice.text and whole.usage is not None and whole.usage.completion_tokens == 6
    assert choice.logprobs is not None and len(choice.logprobs.tokens or []) == 6
    assert "".join(choice.logprobs.tokens or []) == choice.text
    assert all(lp <= 0 for lp in choice.logprobs.token_logprobs or [])
    streamed = "".join(c.choices[0].text for c in api.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=6, stream=True, **GREEDY) if c.choices)
    assert streamed == choice.text


def test_chat_logprobs_greedy_token_is_the_top_one(served: Running) -> None:
    answer = client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=5, logprobs=True,
                                                    top_logprobs=3, **GREEDY)
    content = answer.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) >= 1
    for token in content:
        assert len(token.top_logprobs) == 3
        # Greedy sampling picks the most likely token, so it heads the alternatives.
        assert token.top_logprobs[0].token == token.token
        assert token.top_logprobs[0].logprob == pytest.approx(token.logprob)
        assert token.logprob <= 0


def test_json_schema_output_parses_and_validates(served: Running) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    answer = client(served).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Describe a person as JSON."}], max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}, **GREEDY)
    value = json.loads(answer.choices[0].message.content or "")
    jsonschema.validate(value, schema)


def test_json_object_output_parses(served: Running) -> None:
    answer = client(served).chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": 'Reply with one JSON object such as {"colour": "red"}.'},
                               {"role": "user", "content": "What colour is the sky?"}], max_tokens=64,
        response_format={"type": "json_object"}, **GREEDY)
    # A short answer asked for: an open-ended one may run past max_tokens (and a cut object cannot parse).
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


def test_stop_and_ignore_eos(served: Running) -> None:
    api = client(served)
    full = api.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=12, extra_body={"ignore_eos": True},
                                  **GREEDY)  # type: ignore[call-arg]
    assert full.usage is not None and full.usage.completion_tokens == 12
    cut = api.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=12, stop=[","], **GREEDY)
    assert cut.choices[0].finish_reason == "stop" and "," not in cut.choices[0].text
    assert full.choices[0].text.startswith(cut.choices[0].text)


def test_embeddings(served: Running) -> None:
    api = client(served)
    result = api.embeddings.create(model=MODEL, input=["a red apple", "a red apple", "quantum chromodynamics"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == 576  # SmolLM2-135M's hidden size
    dot = [sum(a * b for a, b in zip(vectors[0], v, strict=True)) for v in vectors]
    assert dot[0] == pytest.approx(1.0, abs=1e-4) and dot[1] == pytest.approx(1.0, abs=1e-4)
    assert dot[2] < 0.999
    assert result.usage.prompt_tokens > 3


def test_model_list_names_the_starters(served: Running) -> None:
    client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)
    models = {m.id: m for m in client(served).models.list().data}
    assert MODEL in models and models[MODEL].owned_by == "workbench"
    assert getattr(models[MODEL], "loaded") is True  # noqa: B009 (an extra field of ours)
    assert getattr(models["gemma3-270m"], "loaded") is False  # noqa: B009


def test_tokenize_detokenize_round_trip(served: Running) -> None:
    base = served.server.address
    tokens = httpx.post(f"{base}/tokenize", json={"model": MODEL, "prompt": "Hello world",
                                                  "add_special_tokens": False}).json()
    assert tokens["count"] == len(tokens["tokens"]) > 0 and tokens["max_model_len"] == 512
    text = httpx.post(f"{base}/detokenize", json={"model": MODEL, "tokens": tokens["tokens"]}).json()
    assert text["prompt"] == "Hello world"
    assert httpx.get(f"{base}/health").json()["status"] == "ok"


def test_errors_in_openai_shape(served: Running) -> None:
    api = client(served)
    with pytest.raises(openai.NotFoundError) as missing:
        api.chat.completions.create(model="no-such-model", messages=HELLO)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as too_long:
        api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 700}],
                                    max_tokens=4)
    assert "512" in too_long.value.message and "tokens" in too_long.value.message
    with pytest.raises(openai.BadRequestError):
        api.chat.completions.create(model=MODEL, messages=HELLO, temperature=99)
    with pytest.raises(openai.BadRequestError):
        api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=100_000)
    with pytest.raises(openai.BadRequestError) as tools:
        api.chat.completions.create(model=MODEL, messages=HELLO, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {}}}}])
    assert "tools" in tools.value.message
    raw = httpx.post(f"{served.base_url}/chat/completions", content=b"{not json")
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    big = httpx.post(f"{served.base_url}/chat/completions", content=b"x" * (9 * 1024 * 1024))
    assert big.status_code == 413


def test_client_disconnect_cancels_the_request(served: Running) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 64, "ignore_eos": True, "stream": True}
    with httpx.Client(timeout=60) as http, http.stream("POST", f"{served.base_url}/chat/completions",
                                                       json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not cancelled(api_runs(served)[0]):
        time.sleep(0.1)
    run = api_runs(served)[0]
    # The engine stops between tokens and returns what it had: recorded with stop reason "cancelled".
    assert cancelled(run)
    assert run["result"]["gen_tokens"] < 64
    wait_until(lambda: served.server.activity.log()[-1].status == 499)


def test_client_giving_up_on_a_whole_answer_cancels_it(served: Running) -> None:
    client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)  # loaded
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 64,
            "ignore_eos": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{served.base_url}/chat/completions", json=body, timeout=httpx.Timeout(10, read=0.5))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not cancelled(api_runs(served)[0]):
        time.sleep(0.1)
    run = api_runs(served)[0]
    assert cancelled(run) and run["result"]["gen_tokens"] < 64
    wait_until(lambda: served.server.activity.log()[-1].status == 499)  # the request log says it went away


def test_worker_killed_mid_stream_gives_an_error_event_and_the_next_request_works(served: Running) -> None:
    api = client(served)
    api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)  # the chat slot is loaded
    stream = api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=64, extra_body={"ignore_eos": True},
                                         stream=True)  # type: ignore[call-overload]

    def read_and_kill() -> None:
        for n, _chunk in enumerate(stream):
            if n == 2:
                os.kill(served.worker_pid(), signal.SIGKILL)

    with pytest.raises(openai.APIError) as crashed:
        read_and_kill()
    assert "crashed" in str(crashed.value.message)
    again = api.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4)
    assert again.choices[0].message.content
