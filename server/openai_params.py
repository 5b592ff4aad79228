"""OpenAI request bodies -> LLM engine params, with a clear 400 for anything wrong or unsupported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.errors import ApiError

_SAMPLING = {"temperature": (int, float), "top_p": (int, float), "top_k": (int,), "min_p": (int, float),
             "repeat_penalty": (int, float), "seed": (int,)}


def bad(message: str, param: str | None = None) -> ApiError:
    """A 400 naming the parameter."""
    return ApiError(400, message, param=param)


def model_name(body: Mapping[str, Any]) -> str:
    """The ``model`` field (required, a non-empty string)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required: a model id from GET /v1/models", "model")
    return model


def sampling_params(body: Mapping[str, Any], max_tokens_limit: int) -> dict[str, Any]:
    """The sampling and stopping fields shared by chat and completions."""
    params: dict[str, Any] = {}
    for name, kinds in _SAMPLING.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise bad(f"{name} must be a number, not {value!r}", name)
        params[name] = value
    for name in ("presence_penalty", "frequency_penalty"):
        value = body.get(name)
        if value not in (None, 0, 0.0):
            raise bad(f"{name} is not supported (use repeat_penalty)", name)
    n = body.get("n")
    if n not in (None, 1):
        raise bad("only n=1 is supported", "n")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise bad(f"max_tokens must be a whole number >= 1, not {limit!r}", "max_tokens")
        if limit > max_tokens_limit:
            raise bad(f"max_tokens {limit} is above this server's limit of {max_tokens_limit}", "max_tokens")
        params["max_tokens"] = limit
    else:
        params["max_tokens"] = max_tokens_limit  # bounded even when the client sets nothing
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
            raise bad("stop must be a string or a list of up to 4 non-empty strings", "stop")
        params["stop"] = stops
    if body.get("ignore_eos") is not None:
        params["ignore_eos"] = bool(body["ignore_eos"])
    params.update(response_format(body.get("response_format")))
    return params


def response_format(raw: Any) -> dict[str, Any]:
    """``json_object`` -> any JSON value by grammar; ``json_schema`` -> that schema's grammar."""
    if raw is None:
        return {}
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"json": True}
    if kind == "json_schema":
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise bad("response_format.json_schema.schema must be a JSON schema object", "response_format")
        return {"json_schema": dict(schema)}
    raise bad("response_format.type must be text, json_object or json_schema", "response_format")


def chat_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The messages with text content (text parts joined), keeping the fields of tool calls and results."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list", "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ("system", "developer", "user",
                                                                            "assistant", "tool"):
            raise bad(f"messages[{i}] needs a role of system, user, assistant or tool", "messages")
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if not isinstance(part, Mapping) or part.get("type") != "text":
                    raise bad(f"messages[{i}]: only text content parts are supported", "messages")
                parts.append(str(part.get("text", "")))
            content = "".join(parts)
        elif content is None:
            content = ""
        elif not isinstance(content, str):
            raise bad(f"messages[{i}].content must be a string or a list of text parts", "messages")
        role = "system" if message["role"] == "developer" else str(message["role"])
        checked: dict[str, Any] = {"role": role, "content": content}
        for key in ("tool_calls", "tool_call_id", "name"):
            if message.get(key) is not None:
                checked[key] = message[key]
        out.append(checked)
    return out


def tool_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` for the engine (which checks them)."""
    if not body.get("tools"):
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise bad("tool_choice needs tools", "tool_choice")
        return {}
    params = {"tools": body["tools"], "tool_choice": body.get("tool_choice") or "auto"}
    if body.get("parallel_tool_calls") is not None:
        params["parallel_tool_calls"] = bool(body["parallel_tool_calls"])
    return params


def logprobs_chat(body: Mapping[str, Any]) -> int | None:
    """Chat's ``logprobs`` (bool) + ``top_logprobs`` (0..20) -> the engine's count, None when off."""
    if not body.get("logprobs"):
        if body.get("top_logprobs"):
            raise bad("top_logprobs needs logprobs: true", "top_logprobs")
        return None
    top = body.get("top_logprobs") or 0
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
        raise bad("top_logprobs must be a whole number 0..20", "top_logprobs")
    return int(top)


def logprobs_completion(body: Mapping[str, Any]) -> int | None:
    """Completions' ``logprobs`` (an int 0..5 in OpenAI's API; we allow up to 20)."""
    value = body.get("logprobs")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise bad("logprobs must be a whole number 0..20", "logprobs")
    return int(value)


def completion_prompt(body: Mapping[str, Any]) -> str:
    """One prompt string (a list holding one string is accepted too)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise bad("'prompt' must be one non-empty string (batches of prompts are not supported)", "prompt")
    if body.get("echo"):
        raise bad("echo is not supported", "echo")
    if body.get("suffix"):
        raise bad("suffix is not supported", "suffix")
    return prompt


def finish_reason(stop_reason: str) -> str:
    """The engine's stop reason in OpenAI's words."""
    return {"length": "length", "context_full": "length", "tool_calls": "tool_calls"}.get(stop_reason, "stop")


def completion_tokens(result: Mapping[str, Any]) -> int:
    """Generated tokens without the end-of-generation token (OpenAI does not bill it)."""
    gen = int(result.get("gen_tokens", 0))
    ended = result.get("generation_stop", result.get("stop_reason"))  # tool calls keep how generation ended
    return max(gen - 1, 0) if ended == "eos" else gen


def usage(result: Mapping[str, Any]) -> dict[str, int]:
    """OpenAI's ``usage`` object."""
    prompt, completion = int(result.get("prompt_tokens", 0)), completion_tokens(result)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_logprob(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One token of chat's ``logprobs.content``."""
    return {"token": entry["token"], "logprob": entry["logprob"], "bytes": entry["bytes"],
            "top_logprobs": [{"token": t["token"], "logprob": t["logprob"], "bytes": t["bytes"]}
                             for t in entry.get("top_logprobs", [])]}


def completion_logprobs(entries: list[Mapping[str, Any]], offset: int = 0) -> dict[str, Any]:
    """Completions' legacy ``logprobs`` object."""
    offsets, position = [], offset
    for entry in entries:
        offsets.append(position)
        position += len(entry["token"])
    return {"tokens": [e["token"] for e in entries], "token_logprobs": [e["logprob"] for e in entries],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e.get("top_logprobs", [])} for e in entries],
            "text_offset": offsets}
