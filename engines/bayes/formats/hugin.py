"""Reader for Hugin NET files (the ``net``/``node``/``potential`` language, Hugin 6+ and older).

``data`` holds nested lists, the first parent outermost and the child innermost, which flattens to our
CPT order. Continuous, decision and utility nodes and OOBN classes are reported as unsupported.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.builder import NetworkBuilder
from engines.bayes.formats.source import SourceText
from engines.bayes.model import BayesNet

_TOKEN = re.compile(r'\s+|%[^\n]*|"(?:[^"\\]|\\.)*"|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?'
                    r"|[A-Za-z_][\w.]*|[(){}=;|,]|.", re.S)


class _Tokens:
    def __init__(self, src: SourceText) -> None:
        self.src = src
        self.items: list[tuple[str, int]] = []
        for m in _TOKEN.finditer(src.text):
            tok = m.group(0)
            if tok[0].isspace() or tok[0] == "%":
                continue
            self.items.append((tok, m.start()))
        self.i = 0

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def pos(self) -> int:
        return self.items[self.i][1] if self.i < len(self.items) else len(self.src.text)

    def next(self, expected: str) -> str:
        if self.i >= len(self.items):
            raise self.src.error(len(self.src.text), f"expected {expected}, but the file ended")
        tok = self.items[self.i][0]
        self.i += 1
        return tok

    def expect(self, literal: str) -> None:
        at = self.pos()
        tok = self.next(repr(literal))
        if tok != literal:
            raise self.src.error(at, f"expected {literal!r}, found {tok!r}")

    def name(self, what: str) -> str:
        at = self.pos()
        tok = self.next(what)
        if not re.match(r"[A-Za-z_]", tok):
            raise self.src.error(at, f"expected {what}, found {tok!r}")
        return tok


def parse_hugin(text: str, source: str, normalize: bool = False) -> tuple[BayesNet, list[str]]:
    """Parse Hugin NET text into ``(BayesNet, warnings)``."""
    src = SourceText(text, source)
    toks = _Tokens(src)
    builder = NetworkBuilder(source, locate=src.line_of)
    potentials: list[tuple[str, list[str], Any, int]] = []
    while toks.peek() is not None:
        at = toks.pos()
        word = toks.next("a declaration")
        if word == "net":
            _attributes(toks)
        elif word in ("node", "discrete"):
            if word == "discrete":
                toks.expect("node")
            name = toks.name("a node name")
            attrs = _attributes(toks)
            states = attrs.get("states")
            if not isinstance(states, list) or not states or not all(isinstance(s, str) for s in states):
                raise src.error(at, f'node {name!r}: expected states = ("state1" "state2" ...);')
            builder.add_variable(name, states, at)
        elif word in ("continuous", "decision", "utility", "function"):
            raise EngineError(ErrorKind.UNSUPPORTED, f"{source}, line {src.line_of(at)}: {word} nodes are not "
                              "supported (discrete chance nodes only)")
        elif word == "class":
            raise EngineError(ErrorKind.UNSUPPORTED, f"{source}, line {src.line_of(at)}: object-oriented "
                              "(class) networks are not supported; export a flat network from Hugin")
        elif word == "potential":
            toks.expect("(")
            heads: list[str] = []
            while toks.peek() not in ("|", ")"):
                heads.append(toks.name("a node name"))
            parents: list[str] = []
            if toks.peek() == "|":
                toks.next("'|'")
                while toks.peek() != ")":
                    parents.append(toks.name("a parent name or ')'"))
            toks.expect(")")
            if len(heads) != 1:
                raise src.error(at, f"expected one node before '|', found {len(heads)}")
            attrs = _attributes(toks)
            potentials.append((heads[0], parents, attrs.get("data"), at))
        else:
            raise src.error(at, f"expected 'net', 'node' or 'potential', found {word!r}")
    for child, parents, data, at in potentials:
        if data is None:
            raise src.error(at, f"the potential of {child!r} has no data = ( ... );")
        values = np.array(list(_flatten(data)), dtype=np.float64)
        builder.add_cpt(child, parents, values, at)
    return builder.build(normalize)


def _attributes(toks: _Tokens) -> dict[str, Any]:
    toks.expect("{")
    attrs: dict[str, Any] = {}
    while toks.peek() != "}":
        key = toks.name("an attribute name or '}'")
        toks.expect("=")
        attrs[key] = _value(toks)
        toks.expect(";")
    toks.expect("}")
    return attrs


def _value(toks: _Tokens) -> Any:
    at = toks.pos()
    tok = toks.next("a value")
    if tok == "(":
        items = []
        while toks.peek() != ")":
            if toks.peek() is None:
                raise toks.src.error(at, "a '(' list never closes: expected ')' but the file ended")
            items.append(_value(toks))
        toks.next("')'")
        return items
    if tok.startswith('"'):
        return tok[1:-1]
    try:
        return float(tok)
    except ValueError:
        if re.match(r"[A-Za-z_]", tok):
            return tok
        raise toks.src.error(at, f"expected a number, a string or '(', found {tok!r}") from None


def _flatten(data: Any) -> list[float]:
    if isinstance(data, list):
        return [x for item in data for x in _flatten(item)]
    if isinstance(data, float):
        return [data]
    raise EngineError(ErrorKind.BAD_INPUT, f"expected numbers in data, found {data!r}")
