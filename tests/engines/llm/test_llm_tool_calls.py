"""Tool calls: syntax detection, parsing, the streaming filter, forcing grammars and template rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.gguf import read_gguf
from engines.base import EngineError
from engines.llm.chat_template import BUILTIN_TEMPLATES, resolve_chat_format
from engines.llm.tool_calls import SYNTAXES, CallFilter, detect_syntax, parse_tool_request

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time"}}

LLAMA31_LIKE = ("{% if tools %}Environment: ipython\n{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}"
                "{% for m in messages %}{{ m['content'] }}{% endfor %}<|python_tag|>")
MISTRAL_LIKE = ("{% if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}"
                "{% for m in messages %}[INST]{{ m['content'] }}[/INST]{% endfor %}")


def test_the_request_is_checked_and_none_means_no_tools() -> None:
    request = parse_tool_request({"tools": [WEATHER, CLOCK], "tool_choice": "required"})
    assert request is not None and request.choice == "required" and request.forced is None
    assert request.tools[1] == {"name": "get_time", "parameters": {"type": "object", "properties": {}}}
    assert request.template_tools()[0] == {"type": "function", "function": dict(request.tools[0])}
    named = parse_tool_request({"tools": [WEATHER], "tool_choice": {"type": "function",
                                                                    "function": {"name": "get_weather"}}})
    assert named is not None and named.forced == "get_weather"
    assert parse_tool_request({"tools": [WEATHER], "tool_choice": "none"}) is None
    assert parse_tool_request({}) is None
    for bad, words in (({"tools": [WEATHER, WEATHER]}, "same name"),
                       ({"tools": [{"type": "function", "function": {"name": "no spaces"}}]}, "letters"),
                       ({"tools": [WEATHER], "tool_choice": {"function": {"name": "other"}}}, "not in tools"),
                       ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
                       ({"tools": "get_weather"}, "list")):
        with pytest.raises(EngineError, match=words):
            parse_tool_request(bad)


def test_the_syntax_comes_from_the_template(smollm2_path: Path) -> None:
    assert detect_syntax(BUILTIN_TEMPLATES["chatml-tools"]) is SYNTAXES["hermes"]
    assert detect_syntax(LLAMA31_LIKE) is SYNTAXES["llama3"]
    assert detect_syntax(MISTRAL_LIKE) is SYNTAXES["mistral"]
    assert detect_syntax(BUILTIN_TEMPLATES["chatml"]) is None
    assert detect_syntax(read_gguf(str(smollm2_path)).chat_template) is None  # SmolLM2's own has no tools


def test_calls_are_parsed_in_each_syntax() -> None:
    hermes = SYNTAXES["hermes"]
    text = ('Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
    split = hermes.split(text)
    assert split is not None and split[0] == "Checking."
    calls = hermes.parse(split[1])
    assert calls is not None and [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert calls[0]["id"].startswith("call_") and calls[0]["id"] != calls[1]["id"]
    assert calls[0]["type"] == "function"

    llama3 = SYNTAXES["llama3"]
    for text in ('{"name": "get_weather", "parameters": {"city": "Oslo"}}',
                 '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}'):
        split = llama3.split(text)
        assert split is not None and split[0] == ""
        calls = llama3.parse(split[1])
        assert calls is not None and json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}

    mistral = SYNTAXES["mistral"]
    text = '[TOOL_CALLS][{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "Rome"}}]'
    split = mistral.split(text)
    assert split is not None
    calls = mistral.parse(split[1])
    assert calls is not None and len(calls) == 2


def test_malformed_calls_and_plain_answers_stay_text() -> None:
    hermes = SYNTAXES["hermes"]
    assert hermes.split("The <tool> tag is not a call.") is None
    assert hermes.parse('<tool_call>\n{"name": "get_weather", "argum') is None
    assert hermes.parse('<tool_call>\n{"arguments": {}}\n</tool_call>') is None
    assert SYNTAXES["llama3"].split('Use {"name": ...} later') is None
    assert SYNTAXES["llama3"].parse('{"name": "f", "parameters": {}} and more words') is None


def test_the_filter_streams_text_until_the_calls_begin() -> None:
    hermes = SYNTAXES["hermes"]
    answer = 'Let me look.\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    shown = CallFilter(hermes)
    out = "".join(shown.feed(ch) for ch in answer)
    assert out.rstrip() == "Let me look." and shown.in_calls  # a newline before the call may go out first
    assert shown.finish(calls_parsed=True) == ""

    plain = CallFilter(hermes)
    text = "Use <tool_c or <b> freely."
    pieces = [plain.feed(ch) for ch in text]
    assert "".join(pieces) + plain.finish(calls_parsed=False) == text
    assert pieces[text.index("<tool_c") + 1] == ""  # held back while it could open a call

    broken = CallFilter(hermes)
    text = "Sure. <tool_call>{not json"
    out = "".join(broken.feed(ch) for ch in text)
    assert out + broken.finish(calls_parsed=False) == text

    bare = CallFilter(SYNTAXES["llama3"])
    assert "".join(bare.feed(ch) for ch in '{"name": "f", "parameters": {}}') == ""
    words = CallFilter(SYNTAXES["llama3"])
    assert "".join(words.feed(ch) for ch in "{braces} are fine") + words.finish(False) == "{braces} are fine"


@pytest.mark.parametrize("syntax", sorted(SYNTAXES))
def test_forcing_grammars_parse(syntax: str) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    request = parse_tool_request({"tools": [WEATHER, CLOCK], "tool_choice": "required"})
    assert request is not None
    for only in (None, "get_weather"):
        for parallel in (True, False):
            gbnf = SYNTAXES[syntax].grammar(request.tools, only=only, parallel=parallel)
            assert LlamaGrammar.from_string(gbnf, verbose=False) is not None
    assert '"\\"get_time\\""' not in SYNTAXES[syntax].grammar(request.tools, only="get_weather", parallel=True)


def test_chatml_tools_renders_tools_calls_and_results() -> None:
    fmt = resolve_chat_format(None, "chatml-tools", bos_token="", eos_token="<|im_end|>")
    assert fmt is not None and fmt.stop == ("<|im_end|>",)
    request = parse_tool_request({"tools": [WEATHER]})
    assert request is not None
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
    ]
    prompt = fmt.render(messages, tools=request.template_tools())
    assert prompt.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    assert '"name": "get_weather"' in prompt and "<tools>" in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in prompt
    assert "<tool_response>\n18 C, sunny\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    without = fmt.render([{"role": "user", "content": "Hi"}])
    assert without == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
