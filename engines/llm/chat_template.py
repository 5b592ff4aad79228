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
    "chatml": ("<|im_end|>",), "llama-3": ("<|eot_id|>",), "gemma": ("<end_of_turn>",),
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

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        """The prompt text for ``messages``; a template error becomes a clear EngineError."""
        import jinja2

        checked = validate_messages(messages)
        compiled = self._compiled or compile_template(self.template)

        def raise_exception(message: str) -> None:
            raise EngineError(ErrorKind.BAD_INPUT, f"the chat template refused the messages: {message}")

        try:
            return str(compiled.render(
                messages=checked, bos_token=self.bos_token, eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt, raise_exception=raise_exception,
                strftime_now=lambda f: dt.datetime.now().strftime(f), tools=None, functions=None,
            ))
        except EngineError:
            raise
        except jinja2.TemplateError as exc:
            raise EngineError(ErrorKind.BAD_INPUT, f"the chat template ({self.name}) failed: {exc}") from exc


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Check a chat message list and return plain ``{"role", "content"}`` dicts."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise EngineError(ErrorKind.BAD_INPUT, "messages must be a non-empty list of {role, content}")
    out = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if role not in ROLES:
            raise EngineError(ErrorKind.BAD_INPUT,
                              f"message {index} has role {role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise EngineError(ErrorKind.BAD_INPUT, f"message {index} has no text content")
        out.append({"role": str(role), "content": content})
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
