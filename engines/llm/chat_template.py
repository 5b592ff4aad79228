"""Chat prompts: the GGUF's own Jinja template rendered in a sandbox (as llama-cpp-python does), or an
override chosen by name or given as Jinja text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.base import EngineError, ErrorKind

# Well-known formats for models whose GGUF lacks a template (or ships a wrong one).
BUILTIN_TEMPLATES: dict[str, str] = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama-3": (
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
        "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}{% set sys = namespace(text='') %}{% for m in messages %}"
        "{% if m['role'] == 'system' %}{% set sys.text = m['content'] + '\n\n' %}{% else %}"
        "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
        "{% if m['role'] == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
        "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    # ChatML with Hermes-style tools (the syntax Qwen 2.5 uses) for ChatML models whose GGUF lacks one.
    "chatml-tools": (
        "{% if tools %}<|im_start|>system\n"
        "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n{% endif %}"
        "# Tools\n\nYou may call one or more functions to assist with the user query. The functions are "
        "listed in <tools></tools>:\n<tools>\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}</tools>\n\n"
        "To call a function, answer with a JSON object holding its name and arguments inside "
        "<tool_call></tool_call> tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call><|im_end|>\n"
        "{% elif messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
        "{% endif %}"
        "{% for m in messages %}{% if m['role'] == 'system' and loop.first %}"
        "{% elif m['role'] == 'assistant' and m['tool_calls'] %}<|im_start|>assistant\n"
        "{% if m['content'] %}{{ m['content'] }}\n{% endif %}"
        "{% for c in m['tool_calls'] %}<tool_call>\n{\"name\": \"{{ c['function']['name'] }}\", "
        "\"arguments\": {{ c['function']['arguments'] | tojson }}}\n</tool_call>"
        "{% if not loop.last %}\n{% endif %}{% endfor %}<|im_end|>\n"
        "{% elif m['role'] == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m['content'] }}\n"
        "</tool_response><|im_end|>\n"
        "{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "mistral-instruct": (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
        "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}"
        "{% else %}{{ m['content'] }}\n\n{% endif %}{% endfor %}"
    ),
    "alpaca": (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
        "{% elif m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n"
        "{% else %}### Response:\n{{ m['content'] }}\n\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}### Response:\n{% endif %}"
    ),
}
BUILTIN_STOPS: dict[str, tuple[str, ...]] = {
    "chatml": ("<|im_end|>",), "chatml-tools": ("<|im_end|>",), "llama-3": ("<|eot_id|>",), "gemma": ("<end_of_turn>",),
    "alpaca": ("### Instruction:",),
}
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class ChatFormat:
    """How messages become a prompt: a Jinja template plus the special tokens and stop strings it needs."""

    name: str  # "gguf", a builtin name, or "custom"
    template: str
    bos_token: str = ""
    eos_token: str = ""
    stop: tuple[str, ...] = ()
    _compiled: Any = field(default=None, repr=False, compare=False)

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
               tools: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The prompt text for ``messages`` (and ``tools``, OpenAI-shaped); a template error is an EngineError."""
        import jinja2

        checked = validate_messages(messages)
        compiled = self._compiled or compile_template(self.template)

        def raise_exception(message: str) -> None:
            raise EngineError(ErrorKind.BAD_INPUT, f"the chat template refused the messages: {message}")

        try:
            return str(compiled.render(
                messages=checked, bos_token=self.bos_token, eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt, raise_exception=raise_exception,
                strftime_now=lambda f: dt.datetime.now().strftime(f), tools=list(tools) if tools else None,
                functions=None,
            ))
        except EngineError:
            raise
        except jinja2.TemplateError as exc:
            raise EngineError(ErrorKind.BAD_INPUT, f"the chat template ({self.name}) failed: {exc}") from exc


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a chat message list; plain ``{"role", "content"}`` dicts, plus the tool fields templates read.

    An assistant message may carry ``tool_calls`` (its content may then be empty); their ``arguments``
    JSON text is handed to the template as an object, as Hugging Face templates expect. A ``tool`` message
    may name its ``tool_call_id`` and ``name``.
    """
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise EngineError(ErrorKind.BAD_INPUT, "messages must be a non-empty list of {role, content}")
    out = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if role not in ROLES:
            raise EngineError(ErrorKind.BAD_INPUT,
                              f"message {index} has role {role!r}; expected one of {', '.join(ROLES)}")
        assert isinstance(message, Mapping)
        calls = message.get("tool_calls") if role == "assistant" else None
        if content is None and calls:
            content = ""
        if not isinstance(content, str):
            raise EngineError(ErrorKind.BAD_INPUT, f"message {index} has no text content")
        checked: dict[str, Any] = {"role": str(role), "content": content}
        if calls:
            checked["tool_calls"] = _template_calls(index, calls)
        if role == "tool":
            for key in ("tool_call_id", "name"):
                if isinstance(message.get(key), str):
                    checked[key] = message[key]
        out.append(checked)
    return out


def _template_calls(index: int, calls: Any) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise EngineError(ErrorKind.BAD_INPUT, f"message {index}: tool_calls must be a list")
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise EngineError(ErrorKind.BAD_INPUT, f"message {index}: each tool call needs function.name")
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                pass  # kept as text: the template shows what the model wrote
        out.append({"id": str(call.get("id", "")), "type": "function",
                    "function": {"name": function["name"], "arguments": arguments}})
    return out


def compile_template(template: str) -> Any:
    """Compile Jinja chat-template text in an immutable sandbox (no attribute tricks, no file access)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _IgnoreGenerationTag(jinja2.ext.Extension):
        # Hugging Face templates mark assistant spans with {% generation %}; it only matters for training.
        tags = {"generation"}  # noqa: RUF012 - jinja2's own declaration

        def parse(self, parser: Any) -> Any:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
        extensions=[_IgnoreGenerationTag, jinja2.ext.loopcontrols],
    )
    environment.filters["tojson"] = lambda value, indent=None, **_: json.dumps(
        value, ensure_ascii=False, indent=indent)
    try:
        return environment.from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"the chat template has a syntax error: {exc}") from exc


def resolve_chat_format(
    gguf_template: str | None, override: str | None, *, bos_token: str, eos_token: str,
) -> ChatFormat | None:
    """Pick the chat format: ``override`` (a builtin name or Jinja text) or the GGUF's template, else None."""
    if override:
        if override in BUILTIN_TEMPLATES:
            name, template, stop = override, BUILTIN_TEMPLATES[override], BUILTIN_STOPS.get(override, ())
        elif "{%" in override or "{{" in override:
            name, template, stop = "custom", override, ()
        else:
            raise EngineError(ErrorKind.BAD_INPUT, f"unknown chat format {override!r}; use one of "
                              f"{', '.join(BUILTIN_TEMPLATES)} or give a Jinja template")
    elif gguf_template:
        name, template, stop = "gguf", gguf_template, ()
    else:
        return None
    return ChatFormat(name, template, bos_token, eos_token, stop, compile_template(template))
