"""Reader for the UAI competition format (``BAYES`` networks): numbers only, no names.

Variables become ``X0 .. Xn-1`` with states ``0 .. k-1``. In each function's scope the last variable is
the child; its table lists values in scope order, last variable fastest (our CPT order).
"""

from __future__ import annotations

import math
import re

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.builder import NetworkBuilder
from engines.bayes.formats.source import SourceText
from engines.bayes.model import BayesNet


class _Numbers:
    def __init__(self, src: SourceText, start: int) -> None:
        self.src = src
        self.tokens = [(m.group(0), m.start()) for m in re.finditer(r"\S+", src.text[start:])]
        self.offset = start
        self.i = 0

    def at(self) -> int:
        return self.offset + (self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.src.text))

    def integer(self, what: str) -> int:
        pos = self.at()
        if self.i >= len(self.tokens):
            raise self.src.error(len(self.src.text), f"expected {what}, but the file ended (truncated?)")
        tok = self.tokens[self.i][0]
        self.i += 1
        if not tok.isdigit():
            raise self.src.error(pos, f"expected {what} (a whole number), found {tok!r}")
        return int(tok)

    def floats(self, count: int, what: str) -> np.ndarray:
        pos = self.at()
        chunk = self.tokens[self.i:self.i + count]
        if len(chunk) < count:
            raise self.src.error(len(self.src.text), f"expected {count} values for {what}, but the file "
                                                     f"ended after {len(chunk)}")
        self.i += count
        try:
            return np.array([t for t, _ in chunk], dtype=np.float64)
        except ValueError:
            bad = next(t for t, _ in chunk if not re.fullmatch(r"[-+]?[\d.]+(?:[eE][-+]?\d+)?", t))
            raise self.src.error(pos, f"{what}: expected a probability, found {bad!r}") from None


def parse_uai(text: str, source: str, normalize: bool = False) -> tuple[BayesNet, list[str]]:
    """Parse UAI text into ``(BayesNet, warnings)``."""
    src = SourceText(text, source)
    head = re.match(r"\s*(\S+)", text)
    if head is None:
        raise src.error(0, "empty file: expected 'BAYES'")
    kind = head.group(1).upper()
    if kind == "MARKOV":
        raise EngineError(ErrorKind.UNSUPPORTED, f"{source}: a MARKOV network; only BAYES networks are supported")
    if kind != "BAYES":
        raise src.error(head.start(1), f"expected 'BAYES' on the first line, found {head.group(1)!r}")
    nums = _Numbers(src, head.end())
    n = nums.integer("the number of variables")
    cards = [nums.integer(f"the number of states of X{i}") for i in range(n)]
    builder = NetworkBuilder(source, "uai", locate=src.line_of)
    for i, card in enumerate(cards):
        if card < 1:
            raise src.error(nums.at(), f"X{i} has {card} states")
        builder.add_variable(f"X{i}", [str(k) for k in range(card)], None)
    m = nums.integer("the number of functions")
    scopes: list[tuple[list[int], int]] = []
    for f in range(m):
        pos = nums.at()
        size = nums.integer(f"the scope size of function {f}")
        if size < 1:
            raise src.error(pos, f"function {f} has an empty scope")
        scope = [nums.integer(f"a variable of function {f}") for _ in range(size)]
        for v in scope:
            if v >= n:
                raise src.error(pos, f"function {f} names variable {v}; there are only {n} (0..{n - 1})")
        scopes.append((scope, pos))
    for f, (scope, pos) in enumerate(scopes):
        count_pos = nums.at()
        count = nums.integer(f"the table size of function {f}")
        expected = math.prod(cards[v] for v in scope)
        if count != expected:
            raise src.error(count_pos, f"function {f} declares {count} values; its scope "
                                       f"({' '.join(f'X{v}' for v in scope)}) needs {expected}")
        values = nums.floats(count, f"function {f}")
        builder.add_cpt(f"X{scope[-1]}", [f"X{v}" for v in scope[:-1]], values, pos)
    if nums.i < len(nums.tokens):
        raise src.error(nums.at(), f"unexpected {nums.tokens[nums.i][0]!r} after the last table")
    return builder.build(normalize)
