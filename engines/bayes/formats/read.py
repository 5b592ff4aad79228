"""Pick the reader by file name (or content, for unknown names) and parse."""

from __future__ import annotations

from pathlib import Path

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.source import decode, read_bytes
from engines.bayes.model import BayesNet

FORMATS = ("bif", "xmlbif", "xdsl", "net", "uai")
SUFFIXES = {".bif": "bif", ".xml": "xmlbif", ".xmlbif": "xmlbif", ".xdsl": "xdsl", ".net": "net", ".uai": "uai",
            ".dne": "unsupported"}


def detect_format(path: Path, data: bytes) -> str:
    """The format of ``path``: by suffix (``.gz`` ignored), else by the first bytes."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in SUFFIXES:
        fmt = SUFFIXES[suffix]
        if fmt == "unsupported":
            raise EngineError(ErrorKind.UNSUPPORTED, f"{path.name}: Netica .dne files are not supported "
                              f"(readable formats: {', '.join(FORMATS)})")
        return fmt
    head = data[:2048].decode("latin-1").lstrip()
    if head.startswith("<"):
        if "<smile" in head:
            return "xdsl"
        if "<BIF" in head.upper():
            return "xmlbif"
    first = head.split(None, 1)[0] if head.split() else ""
    if first in ("network", "variable", "probability"):
        return "bif"
    if first.upper() in ("BAYES", "MARKOV"):
        return "uai"
    if first in ("net", "node", "discrete", "class", "potential"):
        return "net"
    raise EngineError(ErrorKind.UNSUPPORTED, f"{path.name}: cannot tell the format (readable: "
                      f"{', '.join(FORMATS)}; name the file with one of these suffixes)")


def read_network(path: Path, normalize: bool = False, source: str | None = None) -> tuple[BayesNet, list[str]]:
    """Parse a network file of any supported format into ``(network, warnings)``."""
    data = read_bytes(path)
    if not data.strip():
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: the file is empty (no network in it)")
    fmt = detect_format(path, data)
    name = source or path.name
    if fmt == "xmlbif":
        from engines.bayes.formats.xmlbif import parse_xmlbif

        net, warnings = parse_xmlbif(data, name, normalize)
    elif fmt == "xdsl":
        from engines.bayes.formats.xdsl import parse_xdsl

        net, warnings = parse_xdsl(data, name, normalize)
    else:
        text = decode(data)
        if fmt == "bif":
            from engines.bayes.formats.bif import parse_bif

            net, warnings = parse_bif(text, name, normalize)
        elif fmt == "net":
            from engines.bayes.formats.hugin import parse_hugin

            net, warnings = parse_hugin(text, name, normalize)
        else:
            from engines.bayes.formats.uai import parse_uai

            net, warnings = parse_uai(text, name, normalize)
    if net.name in ("", "network", "unknown"):
        net.name = path.name.split(".")[0]
    return net, warnings
