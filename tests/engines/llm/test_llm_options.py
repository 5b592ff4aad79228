"""Load options, sampling settings, chat templates and stop strings: the pure-Python parts of the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.gguf import read_gguf
from engines.base import EngineError, ErrorKind
from engines.llm.chat_template import BUILTIN_TEMPLATES, resolve_chat_format, validate_messages
from engines.llm.generation import StopMatcher
from engines.llm.options import parse_load_options
from engines.llm.sampling import parse_sampling


def test_load_options_accept_llama_cpp_names() -> None:
    options = parse_load_options({"ctx": 2048, "n_threads": "2", "ngl": "all", "flash_attn": "true",
                                  "type_k": "q8_0", "type_v": "q8_0", "mlock": False, "seed": 7})
    assert (options.n_ctx, options.threads, options.gpu_layers, options.flash_attn) == (2048, 2, "all", True)
    assert (options.cache_type_k, options.cache_type_v, options.use_mlock, options.seed) == ("q8_0", "q8_0",
                                                                                           False, 7)
    assert parse_load_options({"gpu_layers": -1}).gpu_layers == "all"
    assert parse_load_options({"gpu_layers": "12"}).gpu_layers == 12
    assert parse_load_options({}).to_dict()["n_ctx"] is None


def test_flash_attention_is_left_to_llama_cpp_unless_set(smollm2_path: Path) -> None:
    import llama_cpp

    from engines.llm.loader import load_model
    from engines.llm.native_log import shared_log

    assert parse_load_options({}).flash_attn is None
    assert parse_load_options({"flash_attn": "auto"}).flash_attn is None
    assert parse_load_options({"flash_attn": "off"}).flash_attn is False
    assert parse_load_options({"cache_type_v": "q8_0"}).cache_type_v == "q8_0"  # auto turns it on for that
    for raw, expected in (({}, llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO),
                          ({"flash_attn": False}, llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED),
                          ({"flash_attn": True}, llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED)):
        loaded = load_model(str(smollm2_path), "cpu", parse_load_options({"n_ctx": 64, "threads": 1, **raw}),
                            shared_log(), default_threads=1)
        try:
            assert loaded.llm.context_params.flash_attn_type == expected
        finally:
            loaded.llm.close()
    assert llama_cpp.llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED == 0  # the constant is put back


@pytest.mark.parametrize(("raw", "words"), [
    ({"context_size": 10}, "unknown load option 'context_size'"),
    ({"n_ctx": 4}, "too small"),
    ({"n_ctx": "big"}, "whole number"),
    ({"threads": 0}, "between 1 and 1024"),
    ({"gpu_layers": "lots"}, "'all', 'none' or a number"),
    ({"cache_type_k": "q3"}, "not a KV cache type"),
    ({"cache_type_v": "q4_0", "flash_attn": "off"}, "needs flash attention"),
    ({"flash_attn": "maybe"}, "true or false"),
    ({"prompt_lookup": 100}, "between 0 and 64"),
])
def test_bad_load_options(raw: dict[str, object], words: str) -> None:
    with pytest.raises(EngineError, match=words) as caught:
        parse_load_options(raw)
    assert caught.value.kind is ErrorKind.BAD_INPUT


def test_sampling_params() -> None:
    sampling = parse_sampling({"temp": 0.2, "top_p": 0.9, "top_k": 20, "min_p": 0.1, "repeat_penalty": 1.2,
                               "seed": 3, "max_tokens": 16, "stop": "###", "messages": []})
    assert sampling.temperature == 0.2 and sampling.stop == ("###",) and sampling.max_tokens == 16
    assert sampling.to_dict()["stop"] == ["###"]
    with pytest.raises(EngineError, match=r"temperature 9\.0 is outside"):
        parse_sampling({"temperature": 9})
    with pytest.raises(EngineError, match=r"top_p 0\.0"):
        parse_sampling({"top_p": 0})
    with pytest.raises(EngineError, match="whole number"):
        parse_sampling({"max_tokens": 1.5})
    with pytest.raises(EngineError, match="stop must be"):
        parse_sampling({"stop": ["", 3]})


def test_gguf_template_renders_in_the_sandbox(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    fmt = resolve_chat_format(info.chat_template, None, bos_token="<|im_start|>", eos_token="<|im_end|>")
    assert fmt is not None and fmt.name == "gguf"
    prompt = fmt.render([{"role": "user", "content": "Hi"}])
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert "You are a helpful AI assistant named SmolLM" in prompt  # the template's default system prompt
    with_system = fmt.render([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}])
    assert with_system.startswith("<|im_start|>system\nBe terse.<|im_end|>")


def test_templates_cannot_escape_the_sandbox() -> None:
    hostile = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    fmt = resolve_chat_format(hostile, None, bos_token="", eos_token="")
    assert fmt is not None
    with pytest.raises(EngineError, match="chat template"):
        fmt.render([{"role": "user", "content": "x"}])
    refusing = "{{ raise_exception('only user and assistant roles') }}"
    fmt = resolve_chat_format(refusing, None, bos_token="", eos_token="")
    assert fmt is not None
    with pytest.raises(EngineError, match="refused the messages: only user and assistant roles"):
        fmt.render([{"role": "user", "content": "x"}])


def test_overrides_and_missing_template() -> None:
    assert resolve_chat_format(None, None, bos_token="", eos_token="") is None
    for name in BUILTIN_TEMPLATES:
        fmt = resolve_chat_format(None, name, bos_token="<s>", eos_token="</s>")
        assert fmt is not None and fmt.name == name
        assert "Hello" in fmt.render([{"role": "system", "content": "S"}, {"role": "user", "content": "Hello"}])
    gemma = resolve_chat_format(None, "gemma", bos_token="<bos>", eos_token="<eos>")
    assert gemma is not None
    assert gemma.render([{"role": "user", "content": "Hi"}]) == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    custom = resolve_chat_format("tpl", "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}",
                                 bos_token="", eos_token="")
    assert custom is not None and custom.name == "custom"
    assert custom.render([{"role": "user", "content": "a"}]) == "[user] a\n"
    with pytest.raises(EngineError, match="unknown chat format 'vicuna-9'"):
        resolve_chat_format(None, "vicuna-9", bos_token="", eos_token="")
    with pytest.raises(EngineError, match="syntax error"):
        resolve_chat_format(None, "{% for m in messages %}", bos_token="", eos_token="")


def test_message_validation() -> None:
    assert validate_messages([{"role": "user", "content": "x", "extra": 1}]) == [{"role": "user", "content": "x"}]
    with pytest.raises(EngineError, match="non-empty list"):
        validate_messages([])
    with pytest.raises(EngineError, match="role 'robot'"):
        validate_messages([{"role": "robot", "content": "x"}])
    with pytest.raises(EngineError, match="no text content"):
        validate_messages([{"role": "user", "content": None}])


def test_stop_matcher_holds_back_partial_matches() -> None:
    matcher = StopMatcher(["###", "User:"])
    assert matcher.feed("Hello #") == ("Hello ", False)
    assert matcher.feed("# not") == ("## not", False)
    assert matcher.feed(" Us") == (" ", False)
    assert matcher.feed("er: more") == ("", True)
    plain = StopMatcher([])
    assert plain.feed("abc") == ("abc", False)
    tail = StopMatcher(["END"])
    assert tail.feed("the EN") == ("the ", False)
    assert tail.flush() == "EN"
