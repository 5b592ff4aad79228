"""A small XML tree that remembers the line of every element (ElementTree does not), via expat."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

import numpy as np

from engines.bayes.formats.source import first_non_number, line_error


@dataclass
class Node:
    """One element: tag, attributes, text, children and the line it starts on."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's own text, stripped."""
        return "".join(self.parts).strip()

    def find(self, tag: str) -> Node | None:
        """First child with ``tag`` (case-insensitive)."""
        low = tag.lower()
        return next((c for c in self.children if c.tag.lower() == low), None)

    def findall(self, tag: str) -> list[Node]:
        """Children with ``tag`` (case-insensitive)."""
        low = tag.lower()
        return [c for c in self.children if c.tag.lower() == low]


def parse_xml(data: bytes, source: str) -> Node:
    """Parse ``data``; malformed XML is reported with its line and what expat expected."""
    parser = expat.ParserCreate()
    root = Node("#document", {}, 1)
    stack = [root]

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        stack[-1].parts.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages[exc.code] if exc.code else str(exc)
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS] or "no element found" in reason:
            reason = "the file ends before the XML is complete (truncated?)"
        raise line_error(source, exc.lineno, f"malformed XML: {reason}") from None
    if not root.children:
        raise line_error(source, 1, "no XML element found")
    return root.children[0]


def parse_document(data: bytes, source: str, root_tag: str, section_tag: str) -> tuple[Node, Node]:
    """The document element, which must be ``<root_tag>``, and its ``<section_tag>`` child (tags in any case)."""
    root = parse_xml(data, source)
    if root.tag.lower() != root_tag.lower():
        raise line_error(source, root.line, f"expected a <{root_tag}> document, found <{root.tag}>")
    section = root.find(section_tag)
    if section is None:
        raise line_error(source, root.line, f"expected a <{section_tag}> element inside <{root_tag}>")
    return root, section


def probabilities(node: Node, source: str, owner: str) -> np.ndarray:
    """The numbers in ``node``'s text; a token that is not one is reported with its line."""
    tokens = node.text.split()
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        raise line_error(source, node.line, f"{owner}: expected a probability, "
                                            f"found {first_non_number(tokens)!r}") from None
