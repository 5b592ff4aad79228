"""Writers for BIF and XMLBIF at full float64 precision (every value round-trips exactly)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from xml.sax.saxutils import escape

from engines.base import EngineError, ErrorKind
from engines.bayes.model import BayesNet

WRITABLE = ("bif", "xmlbif")
_BIF_NAME = re.compile(r"[^\s,;{}()|\[\]\"]+")


def _num(x: float) -> str:
    return repr(float(x))  # shortest text that reads back to the same float64


def to_bif(net: BayesNet) -> str:
    """The network as BIF text; rows name their parent states, so order is never ambiguous."""
    for name in [*net.variables, *itertools.chain.from_iterable(net.states)]:
        if not _BIF_NAME.fullmatch(name):
            raise EngineError(ErrorKind.UNSUPPORTED, f"{name!r} cannot be written to BIF (spaces or "
                              "punctuation in a name); write XMLBIF instead")
    lines = [f"network {net.name if _BIF_NAME.fullmatch(net.name) else 'unknown'} {{", "}"]
    for v, name in enumerate(net.variables):
        states = ", ".join(net.states[v])
        lines += [f"variable {name} {{", f"  type discrete [ {len(net.states[v])} ] {{ {states} }};", "}"]
    for v, name in enumerate(net.variables):
        parents = net.parents[v]
        rows = net.cpts[v].reshape(-1, net.cards[v])
        if not parents:
            lines += [f"probability ( {name} ) {{", "  table " + ", ".join(_num(x) for x in rows[0]) + ";", "}"]
            continue
        head = ", ".join(net.variables[p] for p in parents)
        lines.append(f"probability ( {name} | {head} ) {{")
        combos = itertools.product(*(net.states[p] for p in parents))
        for combo, row in zip(combos, rows, strict=True):
            lines.append(f"  ({', '.join(combo)}) " + ", ".join(_num(x) for x in row) + ";")
        lines.append("}")
    return "\n".join(lines) + "\n"


def to_xmlbif(net: BayesNet) -> str:
    """The network as XMLBIF 0.3."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<BIF VERSION=\"0.3\">", "<NETWORK>",
           f"<NAME>{escape(net.name)}</NAME>"]
    for v, name in enumerate(net.variables):
        out.append('<VARIABLE TYPE="nature">')
        out.append(f"  <NAME>{escape(name)}</NAME>")
        out += [f"  <OUTCOME>{escape(s)}</OUTCOME>" for s in net.states[v]]
        out.append("</VARIABLE>")
    for v, name in enumerate(net.variables):
        out.append("<DEFINITION>")
        out.append(f"  <FOR>{escape(name)}</FOR>")
        out += [f"  <GIVEN>{escape(net.variables[p])}</GIVEN>" for p in net.parents[v]]
        out.append("  <TABLE>" + " ".join(_num(x) for x in net.cpts[v].reshape(-1)) + "</TABLE>")
        out.append("</DEFINITION>")
    out += ["</NETWORK>", "</BIF>"]
    return "\n".join(out) + "\n"


def write_network(net: BayesNet, path: Path, fmt: str | None = None) -> str:
    """Write ``net`` to ``path`` as BIF or XMLBIF (chosen by ``fmt`` or the suffix); returns the format."""
    chosen = fmt or {".bif": "bif", ".xml": "xmlbif", ".xmlbif": "xmlbif"}.get(path.suffix.lower())
    if chosen not in WRITABLE:
        raise EngineError(ErrorKind.UNSUPPORTED, f"cannot write {path.name}: writable formats are "
                          f"{', '.join(WRITABLE)} (.bif, .xml, .xmlbif)")
    text = to_bif(net) if chosen == "bif" else to_xmlbif(net)
    path.write_text(text, encoding="utf-8")
    return chosen
