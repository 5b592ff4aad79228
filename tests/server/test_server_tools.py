"""Tool calls through the OpenAI client, with SmolLM2 served under the ``chatml-tools`` template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest
from api_server_support import MODEL, Running, start, stop

GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
                  "required": ["city", "unit"]}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                      "parameters": WEATHER_SCHEMA}},
    {"type": "function", "function": {"name": "get_time", "description": "The time now"}},
]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def tooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("tools"), chat_format="chatml-tools")
    yield running
    stop(running)


def api(served: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key="none", max_retries=0, timeout=120)


def test_a_required_call_names_a_tool_with_valid_arguments(tooled: Running) -> None:
    answer = api(tooled).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required",
                                                 max_tokens=64, **GREEDY)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and all(c.type == "function" and c.id.startswith("call_") for c in calls)
    for call in calls:
        assert call.function.name in ("get_weather", "get_time")
        arguments = json.loads(call.function.arguments)
        if call.function.name == "get_weather":
            jsonschema.validate(arguments, WEATHER_SCHEMA)
    assert not (choice.message.content or "").count("<tool_call>")
    run = next(r for r in tooled.history.runs() if "api" in (r.get("tags") or []))
    assert run["status"] == "ok" and run["result"]["stop_reason"] == "tool_calls"
    ended_on_eos = run["result"]["generation_stop"] == "eos"
    assert answer.usage is not None and answer.usage.completion_tokens == run["result"]["gen_tokens"] - ended_on_eos


def test_a_named_call_streams_as_tool_call_deltas(tooled: Running) -> None:
    stream = api(tooled).chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, stream=True, max_tokens=64,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, **GREEDY)
    content, calls, finish = "", [], None
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        calls.extend(delta.tool_calls or [])
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and content == ""
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function.name == "get_weather"
    jsonschema.validate(json.loads(calls[0].function.arguments), WEATHER_SCHEMA)


def test_the_result_of_a_call_goes_back_into_the_conversation(tooled: Running) -> None:
    client = api(tooled)
    first = client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, max_tokens=64, **GREEDY,
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = first.choices[0].message.tool_calls[0]
    messages: list[Any] = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": call.function.name,
                                                         "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "It is 18 C and sunny."}]
    again = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="none",
                                           max_tokens=24, **GREEDY)
    choice = again.choices[0]
    assert choice.message.content and choice.message.tool_calls is None
    assert choice.finish_reason in ("stop", "length")
    alone = client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=1)
    assert again.usage is not None and alone.usage is not None
    assert again.usage.prompt_tokens > alone.usage.prompt_tokens + 20  # the call and its result were rendered


def test_auto_answers_either_in_text_or_with_well_formed_calls(tooled: Running) -> None:
    answer = api(tooled).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, max_tokens=48, **GREEDY)
    choice = answer.choices[0]
    if choice.message.tool_calls:
        assert choice.finish_reason == "tool_calls"
        for call in choice.message.tool_calls:
            json.loads(call.function.arguments)
    else:
        assert choice.message.content is not None and "<tool_call>" not in choice.message.content


def test_bad_tool_requests_are_400s(tooled: Running) -> None:
    client = api(tooled)
    with pytest.raises(openai.BadRequestError, match="not in tools"):
        client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, max_tokens=4,
                                       tool_choice={"type": "function", "function": {"name": "launch"}})
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, max_tokens=4,
                                       response_format={"type": "json_object"})
    with pytest.raises(openai.BadRequestError, match="tool_choice needs tools"):
        client.chat.completions.create(model=MODEL, messages=ASK, tool_choice="required", max_tokens=4)
