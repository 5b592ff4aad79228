"""Tool (function) calls: which call syntax a chat template teaches its model, a grammar that forces a call,
and the parser that turns the model's text back into OpenAI ``tool_calls``.

Three syntaxes cover the tool-trained GGUFs people run locally:

- ``hermes`` (Qwen 2.5+, Hermes, our ``chatml-tools``): ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``
- ``llama3`` (Llama 3.1+): a bare ``{"name": …, "parameters": {…}}``, sometimes after ``<|python_tag|>``
- ``mistral``: ``[TOOL_CALLS][{"name": …, "arguments": {…}}, …]``

Control tokens (``<|python_tag|>``, ``[TOOL_CALLS]`` in newer vocabularies) render as nothing in our
streamed text, so each syntax also accepts its JSON at the very start of the answer.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.base import EngineError, ErrorKind

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolSyntax:
    """How one family of models writes a tool call."""

    name: str
    markers: tuple[str, ...]  # text that opens the calls anywhere in the answer
    leading: tuple[str, ...]  # text that opens the calls only at the start of the answer
    arguments_key: str  # "arguments" or "parameters"

    def split(self, text: str, start: int = 0) -> tuple[str, str] | None:
        """(content before the calls, the calls' text) when ``text`` holds calls, else None.

        ``start``: where a marker may begin at the earliest (a streaming caller knows the text before it
        holds none); a bare call at the start of the answer is looked for only while ``start`` is 0.
        """
        if start == 0:
            stripped = text.lstrip()
            for lead in self.leading:
                if stripped.startswith(lead):
                    return "", stripped
        hits = [i for i in (text.find(m, start) for m in self.markers) if i >= 0]
        if not hits:
            return None
        index = min(hits)
        return text[:index].rstrip(), text[index:]

    def parse(self, calls_text: str) -> list[dict[str, Any]] | None:
        """The calls in OpenAI's shape, or None when the text is not well-formed calls."""
        objects = _call_objects(self.name, calls_text)
        if not objects:
            return None
        calls = []
        for obj in objects:
            name = obj.get("name") if isinstance(obj, Mapping) else None
            arguments = obj.get(self.arguments_key, obj.get("arguments", {})) if isinstance(obj, Mapping) else None
            if not isinstance(name, str) or not isinstance(arguments, Mapping | str):
                return None
            text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            calls.append({"id": f"call_{secrets.token_hex(12)}", "type": "function",
                          "function": {"name": name, "arguments": text}})
        return calls

    def grammar(self, tools: Sequence[Mapping[str, Any]], *, only: str | None, parallel: bool) -> str:
        """GBNF that admits only calls (to ``only``, when named) with arguments valid for their schemas."""
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        chosen = [t for t in tools if only is None or t["name"] == only]
        schema = {"oneOf": [{"type": "object", "properties": {
            "name": {"const": t["name"]}, self.arguments_key: t.get("parameters") or _NO_PARAMETERS},
            "required": ["name", self.arguments_key]} for t in chosen]}
        call_rules = re.sub(r"^root ::=", "call ::=", json_schema_to_gbnf(json.dumps(schema)), flags=re.M)
        more = "{0,3}" if parallel else "{0,0}"
        if self.name == "hermes":
            top = f'root ::= block ("\\n" block){more}\nblock ::= "<tool_call>\\n" call "\\n</tool_call>"'
        elif self.name == "mistral":
            top = f'root ::= "[TOOL_CALLS][" call ("," space call){more} "]"'
        else:  # llama3 calls one function per answer
            top = "root ::= call"
        return f"{top}\n{call_rules}"


SYNTAXES = {
    "hermes": ToolSyntax("hermes", ("<tool_call>",), (), "arguments"),
    "llama3": ToolSyntax("llama3", ("<|python_tag|>",), ('{"name"', '{ "name"'), "parameters"),
    "mistral": ToolSyntax("mistral", ("[TOOL_CALLS]",), ('[{"name"', '[{ "name"'), "arguments"),
}


def detect_syntax(template: str | None) -> ToolSyntax | None:
    """The call syntax a chat template teaches, or None when it does not render ``tools`` at all."""
    if not template or not re.search(r"\btools\b", template):
        return None
    if "<tool_call>" in template:
        return SYNTAXES["hermes"]
    if "[TOOL_CALLS]" in template or "[AVAILABLE_TOOLS]" in template:
        return SYNTAXES["mistral"]
    if "<|python_tag|>" in template or "ipython" in template or '"parameters"' in template:
        return SYNTAXES["llama3"]
    return None


def _call_objects(syntax: str, text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    if syntax == "hermes":
        blocks = re.findall(r"<tool_call>(.*?)(?:</tool_call>|$)", text, flags=re.S)
        objects = []
        for block in blocks:
            try:
                objects.append(decoder.raw_decode(block.strip())[0])
            except ValueError:
                return []
        return objects
    body = text
    for marker in ("[TOOL_CALLS]", "<|python_tag|>"):
        body = body.replace(marker, "", 1) if body.lstrip().startswith(marker) else body
    body = body.strip()
    try:
        value, end = decoder.raw_decode(body)
    except ValueError:
        return []
    rest = body[end:].strip()
    objects = value if isinstance(value, list) else [value]
    # Llama 3 sometimes writes several objects separated by ';' or newlines.
    while rest[:1] in (";", "{") and rest:
        try:
            value, end = decoder.raw_decode(rest.lstrip(";").strip())
        except ValueError:
            return []
        objects.append(value)
        rest = rest.lstrip(";").strip()[end:].strip()
    return objects if not rest else []


@dataclass(frozen=True)
class ToolRequest:
    """The ``tools`` of one chat request, checked, and how calls may be made."""

    tools: tuple[dict[str, Any], ...]  # {"name", "description", "parameters"}
    choice: str  # auto | required | none | a function's name (forced)
    parallel: bool = True

    @property
    def forced(self) -> str | None:
        """The function the request forces, if it names one."""
        return None if self.choice in ("auto", "required", "none") else self.choice

    def template_tools(self) -> list[dict[str, Any]]:
        """What templates expect in ``tools``: OpenAI's ``{"type": "function", "function": {...}}`` entries."""
        return [{"type": "function", "function": dict(t)} for t in self.tools]


def parse_tool_request(params: Mapping[str, Any]) -> ToolRequest | None:
    """The request's tools and ``tool_choice``, or None when it has no tools (or says ``none``)."""
    raw = params.get("tools")
    if not raw:
        return None
    if not isinstance(raw, list):
        raise EngineError(ErrorKind.BAD_INPUT, "tools must be a list of {type: function, function: {...}}")
    tools = []
    for i, entry in enumerate(raw):
        function = entry.get("function") if isinstance(entry, Mapping) else None
        if not isinstance(entry, Mapping) or entry.get("type", "function") != "function" \
                or not isinstance(function, Mapping):
            raise EngineError(ErrorKind.BAD_INPUT, f"tools[{i}] must be {{type: function, function: {{name, ...}}}}")
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise EngineError(ErrorKind.BAD_INPUT, f"tools[{i}].function.name must be 1-64 letters, digits, _ . -")
        parameters = function.get("parameters") or _NO_PARAMETERS
        if not isinstance(parameters, Mapping):
            raise EngineError(ErrorKind.BAD_INPUT, f"tools[{i}].function.parameters must be a JSON schema object")
        tool: dict[str, Any] = {"name": name, "parameters": dict(parameters)}
        if isinstance(function.get("description"), str):
            tool["description"] = function["description"]
        tools.append(tool)
    names = [t["name"] for t in tools]
    if len(set(names)) != len(names):
        raise EngineError(ErrorKind.BAD_INPUT, "tools has two functions with the same name")
    choice = _choice(params.get("tool_choice", "auto"), names)
    if choice == "none":
        return None
    return ToolRequest(tuple(tools), choice, parallel=bool(params.get("parallel_tool_calls", True)))


def _choice(value: Any, names: list[str]) -> str:
    if value in ("auto", "required", "none"):
        return str(value)
    function = value.get("function") if isinstance(value, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise EngineError(ErrorKind.BAD_INPUT, "tool_choice must be auto, required, none or "
                                               "{type: function, function: {name}}")
    if name not in names:
        raise EngineError(ErrorKind.BAD_INPUT, f"tool_choice names {name!r}, which is not in tools")
    return name


class CallFilter:
    """Streams the answer's text until its tool calls begin; holds back what may be a call's opening."""

    def __init__(self, syntax: ToolSyntax) -> None:
        self.syntax = syntax
        self._seen = ""  # all text so far
        self._shown = 0  # how much of it went out
        self.in_calls = False

    def feed(self, piece: str) -> str:
        """Text safe to show now."""
        self._seen += piece
        if self.in_calls:
            return ""
        # Text that went out holds no marker (a marker's opening is held back), so the search starts there:
        # each token costs its own length, not the answer's.
        split = self.syntax.split(self._seen, self._shown)
        if split is not None:
            self.in_calls = True
            content = split[0]
            out = content[self._shown:]
            self._shown = max(self._shown, len(content))
            return out
        safe = len(self._seen) - self._held_tail()
        out = self._seen[self._shown:safe]
        self._shown = max(self._shown, safe)
        return out

    def _held_tail(self) -> int:
        text = self._seen
        if self._shown == 0:  # nothing out yet: the answer may still open with a bare call
            opening = text.lstrip()
            if not opening or any(lead.startswith(opening) for lead in self.syntax.leading):
                return len(text)
        for marker in self.syntax.markers:
            for size in range(min(len(marker) - 1, len(text)), 0, -1):
                if marker.startswith(text[-size:]):
                    return size
        return 0

    def finish(self, calls_parsed: bool) -> str:
        """What was held back, to show when the answer ends (nothing when it ended in parsed calls)."""
        if calls_parsed:
            return ""
        out = self._seen[self._shown:]
        self._shown = len(self._seen)
        return out
