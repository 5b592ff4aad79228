"""Reader for the Bayesian Interchange Format (BIF 0.15, as bnlearn and pgmpy write it).

A ``table`` statement lists values with the child varying slowest (the order of the variables in the
``probability ( child | parents )`` header, last one fastest), as JavaBayes and pgmpy read it; rows given
as ``(parent states) values;`` list the child's distribution for one parent configuration.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from engines.bayes.formats.builder import NetworkBuilder
from engines.bayes.formats.source import SourceText, first_non_number
from engines.bayes.model import BayesNet

_WS = re.compile(r"\s*")
_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)
_BLOCK = re.compile(r"(network|variable|probability)\b")
_NETWORK = re.compile(r'network\s+("[^"]*"|[^\s{]+)\s*\{(?:[^{}"]|"[^"]*")*\}')
_VARIABLE = re.compile(r"variable\s+([^\s{]+)\s*\{")
_TYPE = re.compile(r"type\s+discrete\s*\[\s*(\d+)\s*\]\s*\{([^{}]*)\}\s*;")
_PROPERTY = re.compile(r'property\b(?:[^;"]|"[^"]*")*;')
_PROBABILITY = re.compile(r"probability\s*\(\s*([^|()]*?)\s*(?:\|\s*([^()]*?))?\s*\)\s*\{")
_STATEMENT = re.compile(r'\s*(?P<at>)(?:\((?P<row>[^()]*)\)|(?P<kw>table|default)\b|property\b(?:[^;"]|"[^"]*")*)'
                        r"(?P<values>[^;]*);")
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass
class _Block:
    child: str
    parents: list[str]
    body_start: int
    body_end: int


def parse_bif(text: str, source: str, normalize: bool = False) -> tuple[BayesNet, list[str]]:
    """Parse BIF text into ``(BayesNet, warnings)``; errors name the file and the line."""
    src = SourceText(_strip_comments(text), source)
    fast = _parse_fast(src)
    if fast is not None:
        return fast.build(normalize)
    return _parse_strict(src).build(normalize)


# The fast path reads a well-formed file with a few whole-block regular expressions and converts every
# number in the file in one numpy call. Anything it does not recognise sends the file to the strict
# parser, which finds the exact line and says what was expected.
_FAST_BLOCK = re.compile(
    r"\s*(?:network\s+(?P<net>\"[^\"]*\"|[^\s{]+)\s*\{[^{}]*\}"
    r"|variable\s+(?P<var>[^\s{]+)\s*\{\s*type\s+discrete\s*\[\s*(?P<n>\d+)\s*\]\s*\{(?P<states>[^{}]*)\}\s*;"
    r"(?:\s*property\b[^;{}]*;)*\s*\}"
    r"|probability\s*\(\s*(?P<child>[^|()\s]+)\s*(?:\|\s*(?P<parents>[^()]*?))?\s*\)\s*\{(?P<body>[^{}]*)\})")
_FAST_ROWS = re.compile(r"(?:\s*\([^()]*\)[^;()]*;)*\s*")
_FAST_ROW = re.compile(r"\(([^()]*)\)([^;()]*);")
_FAST_TABLE = re.compile(r"\s*table\b([^;]*);\s*")


def _parse_fast(src: SourceText) -> NetworkBuilder | None:
    text = src.text
    builder = NetworkBuilder(src.name, locate=src.line_of)
    probabilities: list[tuple[str, list[str], str, int]] = []
    pos, match = 0, _FAST_BLOCK.match
    while (m := match(text, pos)) is not None:
        if m.group("var") is not None:
            states = [x.strip() for x in m.group("states").split(",")]
            if len(states) != int(m.group("n")) or not all(states):
                return None
            builder.add_variable(m.group("var"), states, m.start("var"))
        elif m.group("child") is not None:
            parents = [p for p in _SEPARATORS.split(m.group("parents") or "") if p]
            probabilities.append((m.group("child"), parents, m.group("body"), m.start("body")))
        else:
            builder.name = m.group("net").strip('"')
        pos = m.end()
    if text[pos:].strip():
        return None
    chunks: list[str] = []
    plans: list[tuple[str, list[str], int, list[int] | None, int]] = []
    for child, parents, body, at in probabilities:
        if not builder.has_variable(child) or not all(builder.has_variable(p) for p in parents):
            return None
        pstates = [builder.states_of(p) for p in parents]
        card = len(builder.states_of(child))
        n_rows = math.prod(len(x) for x in pstates)
        table = _FAST_TABLE.fullmatch(body)
        if table is not None:
            chunks.append(table.group(1))
            plans.append((child, parents, at, None, card))
            continue
        if _FAST_ROWS.fullmatch(body) is None:
            return None
        rows = _FAST_ROW.findall(body)
        if len(rows) != n_rows:
            return None
        maps = [({x: i for i, x in enumerate(states)}, len(states)) for states in pstates]
        index = []
        try:
            for names, values in rows:
                parts = names.split(",")
                if len(parts) != len(maps):
                    return None
                flat = 0
                for (lookup, size), name in zip(maps, parts, strict=True):
                    flat = flat * size + lookup[name.strip()]
                index.append(flat)
                chunks.append(values)
        except KeyError:
            return None
        if len(set(index)) != n_rows:
            return None
        plans.append((child, parents, at, index, card))
    try:
        numbers = np.array(" ".join(chunks).replace(",", " ").split(), dtype=np.float64)
    except ValueError:
        return None
    start = 0
    for child, parents, at, order, card in plans:
        pcards = [len(builder.states_of(p)) for p in parents]
        size = math.prod(pcards) * card
        values = numbers[start:start + size]
        start += size
        if values.size != size:
            return None
        if order is None and pcards:  # a table lists the child slowest
            values = np.moveaxis(values.reshape((card, *pcards)), 0, -1).reshape(-1)
        elif order is not None and order != list(range(len(order))):
            ordered = np.empty((len(order), card))
            ordered[np.asarray(order)] = values.reshape(-1, card)
            values = ordered.reshape(-1)
        builder.add_cpt(child, parents, values, at)
    if start != numbers.size:
        return None
    return builder


def _parse_strict(src: SourceText) -> NetworkBuilder:
    builder = NetworkBuilder(src.name, locate=src.line_of)
    blocks: list[_Block] = []
    body = src.text
    pos = _WS.match(body, 0).end()  # type: ignore[union-attr]
    end = len(body)
    while pos < end:
        head = _BLOCK.match(body, pos)
        if head is None:
            raise src.error(pos, f"expected 'network', 'variable' or 'probability', found {src.found(pos)}")
        keyword = head.group(1)
        if keyword == "network":
            m = _NETWORK.match(body, pos)
            if m is None:
                raise src.error(pos, "expected 'network NAME { ... }' (the block is cut short or malformed)")
            builder.name = m.group(1).strip('"')
            pos = m.end()
        elif keyword == "variable":
            pos = _variable(src, pos, builder)
        else:
            pos = _probability_header(src, pos, blocks)
        pos = _WS.match(body, pos).end()  # type: ignore[union-attr]
    for block in blocks:
        _probability_body(src, block, builder)
    return builder


def _strip_comments(text: str) -> str:
    if "//" not in text and "/*" not in text:
        return text

    def blank(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if s.startswith('"') else re.sub(r"[^\n]", " ", s)  # keep line numbers

    return _COMMENT.sub(blank, text)


def _variable(src: SourceText, pos: int, builder: NetworkBuilder) -> int:
    text = src.text
    head = _VARIABLE.match(text, pos)
    if head is None:
        raise src.error(pos, "expected 'variable NAME {'")
    name = head.group(1)
    start = pos
    pos = head.end()
    states: list[str] | None = None
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("}", pos):
            pos += 1
            break
        m = _TYPE.match(text, pos)
        if m is not None:
            declared = int(m.group(1))
            states = [s.strip() for s in m.group(2).split(",")]
            if states == [""] or any(not s for s in states):
                raise src.error(pos, f"node {name!r}: expected state names separated by commas")
            if len(states) != declared:
                raise src.error(pos, f"node {name!r} declares {declared} states but lists {len(states)}")
            pos = m.end()
            continue
        m = _PROPERTY.match(text, pos)
        if m is not None:
            pos = m.end()
            continue
        if text.startswith("type", pos):
            raise src.error(pos, f"node {name!r}: expected 'type discrete [ N ] {{ state, ... }};', "
                                 f"found {src.found(pos)}")
        raise src.error(pos, f"in node {name!r}: expected 'type', 'property' or '}}', found {src.found(pos)}")
    if states is None:
        raise src.error(pos - 1, f"node {name!r} has no 'type discrete [ N ] {{ ... }};' line")
    builder.add_variable(name, states, start)
    return pos


def _probability_header(src: SourceText, pos: int, blocks: list[_Block]) -> int:
    text = src.text
    head = _PROBABILITY.match(text, pos)
    if head is None:
        raise src.error(pos, f"expected 'probability ( NODE | PARENT, ... ) {{', found {src.found(pos)}")
    child = head.group(1).strip()
    if not child or _SEPARATORS.search(child):
        raise src.error(pos, f"expected one node name before '|', found {child!r}")
    parents = [p for p in _SEPARATORS.split(head.group(2) or "") if p]
    close = text.find("}", head.end())
    if close < 0:
        raise src.error(len(text), f"the probability block of {child!r} (line {src.line_of(pos)}) never "
                                   "closes: expected '}' but the file ended")
    blocks.append(_Block(child, parents, head.end(), close))
    return close + 1


def _probability_body(src: SourceText, block: _Block, builder: NetworkBuilder) -> None:
    text = src.text
    child, parents = block.child, block.parents
    line = block.body_start
    for name in (child, *parents):
        if not builder.has_variable(name):
            what = "probability for unknown node" if name == child else f"node {child!r} has an unknown parent"
            raise src.error(line, f"{what} {name!r}" + builder.suggest(name))
    card = len(builder.states_of(child))
    pstates = [builder.states_of(p) for p in parents]
    pcards = [len(s) for s in pstates]
    n_rows = math.prod(pcards)
    maps = [{s: i for i, s in enumerate(states)} for states in pstates]
    strides = [math.prod(pcards[k + 1:]) for k in range(len(pcards))]

    row_index: list[int] = []
    row_text: list[str] = []
    row_pos: list[int] = []
    table_text: str | None = None
    table_pos = 0
    default_text: str | None = None
    pos = block.body_start
    for m in _STATEMENT.finditer(text, block.body_start, block.body_end):
        if m.start() != pos:
            break
        pos = m.end()
        if m.group("row") is not None:
            names = [s.strip() for s in m.group("row").split(",")]
            if len(names) != len(parents):
                raise src.error(m.start("at"), f"{child!r}: the row names {len(names)} parent state(s), "
                                           f"expected {len(parents)} ({', '.join(parents) or 'no parents'})")
            flat = 0
            for k, name in enumerate(names):
                try:
                    flat += maps[k][name] * strides[k]
                except KeyError:
                    raise src.error(m.start("at"), f"{child!r}: parent {parents[k]!r} has no state {name!r} "
                                               f"(states: {', '.join(pstates[k])})") from None
            row_index.append(flat)
            row_text.append(m.group("values"))
            row_pos.append(m.start("at"))
        elif m.group("kw") == "table":
            table_text, table_pos = m.group("values"), m.start("at")
        elif m.group("kw") == "default":
            default_text = m.group("values")
    rest = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if rest < block.body_end:
        raise src.error(rest, f"{child!r}: expected '(parent states) p1, p2, ...;' or 'table p1, p2, ...;', "
                              f"found {src.found(rest)}")

    if table_text is not None:
        values = _numbers(src, table_text, table_pos, child)
        if values.size != n_rows * card:
            raise src.error(table_pos, f"the table of {child!r} has {values.size} values, expected "
                                       f"{n_rows * card} ({n_rows} parent configuration(s) x {card} states)")
        table = np.moveaxis(values.reshape((card, *pcards)), 0, -1).reshape(n_rows, card)
    else:
        table = np.full((n_rows, card), np.nan)
        if default_text is not None:
            default = _numbers(src, default_text, block.body_start, child)
            if default.size != card:
                raise src.error(block.body_start, f"the default row of {child!r} has {default.size} values, "
                                                  f"expected {card}")
            table[:] = default
    if row_index:
        values = _numbers(src, " ".join(row_text), row_pos[0], child)
        if values.size != len(row_index) * card:
            for text_k, pos_k in zip(row_text, row_pos, strict=True):
                count = _numbers(src, text_k, pos_k, child).size
                if count != card:
                    raise src.error(pos_k, f"{child!r}: the row has {count} values, expected {card} "
                                           "(one per state)")
        idx = np.asarray(row_index)
        if len(set(row_index)) != len(row_index):
            seen: set[int] = set()
            for flat, pos_k in zip(row_index, row_pos, strict=True):
                if flat in seen:
                    raise src.error(pos_k, f"{child!r}: this parent configuration was already given")
                seen.add(flat)
        table[idx] = values.reshape(-1, card)
    if table_text is None and default_text is None:
        missing = np.flatnonzero(np.isnan(table[:, 0]))
        if missing.size:
            combo = np.unravel_index(int(missing[0]), pcards) if pcards else ()
            label = ", ".join(pstates[k][int(i)] for k, i in enumerate(combo))
            raise src.error(block.body_start, f"{child!r}: no values for the parent configuration ({label}) "
                                              f"and {missing.size - 1} more" if missing.size > 1 else
                                              f"{child!r}: no values for the parent configuration ({label})")
    builder.add_cpt(child, parents, table.reshape(-1), line)


def _numbers(src: SourceText, chunk: str, pos: int, child: str) -> np.ndarray:
    tokens = chunk.replace(",", " ").split()
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = first_non_number(tokens)
        raise src.error(pos, f"{child!r}: expected a probability, found {bad!r}") from None

