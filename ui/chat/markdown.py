"""Markdown to the HTML subset QTextBrowser shows, with code blocks highlighted by pygments.

Fenced code blocks are cut out before Markdown runs and drawn as one-cell tables (QTextDocument draws
a table cell's background as a box; ``<pre>`` backgrounds come out as stripes). An unclosed fence,
common while an answer streams, is treated as code up to the end. Raw HTML in model output is escaped.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*$")


@dataclass(frozen=True)
class Segment:
    """A run of prose, or one code block with its language (``""`` when not given)."""

    text: str
    code: bool = False
    language: str = ""
    closed: bool = True


def split_fences(text: str) -> list[Segment]:
    """Cut Markdown into prose and fenced code blocks; a fence left open runs to the end."""
    segments: list[Segment] = []
    prose: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            prose.append(lines[index])
            index += 1
            continue
        if prose:
            segments.append(Segment("\n".join(prose)))
            prose = []
        fence = match.group("fence")
        body: list[str] = []
        index += 1
        closed = False
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                closed = True
                index += 1
                break
            body.append(lines[index])
            index += 1
        segments.append(Segment("\n".join(body), code=True, language=match.group("lang").lower(), closed=closed))
    if prose:
        segments.append(Segment("\n".join(prose)))
    return segments


_local = threading.local()


def _markdown() -> Any:
    # One converter per thread: a Markdown instance keeps state while it converts.
    md = getattr(_local, "md", None)
    if md is None:
        import markdown

        md = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html", lazy_ol=False)
        # Model output is text, not markup: show any HTML in it literally.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        _local.md = md
    return md


def _prose_html(text: str, dark: bool) -> str:
    md = _markdown()
    md.reset()
    border = "#3a3f47" if dark else "#c8ccd3"
    # QTextDocument draws no table rules unless the table asks for them.
    return str(md.convert(text)).replace(
        "<table>", f'<table border="1" cellspacing="0" cellpadding="4" style="border-color: {border};">')


@lru_cache(maxsize=256)
def highlight_code(code: str, language: str, dark: bool) -> str:
    """``code`` as HTML spans coloured by pygments (inline styles; QTextBrowser has no stylesheet classes)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    # No guessing for unlabelled blocks: guess_lexer tries every lexer (tens of ms per call while streaming).
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style="github-dark" if dark else "friendly")
    return str(highlight(code, lexer, formatter))


def _code_html(segment: Segment, dark: bool) -> str:
    background = "#0d1117" if dark else "#f4f6f8"
    border = "#30363d" if dark else "#d8dee4"
    label_colour = "#8b949e" if dark else "#6b7079"
    code = highlight_code(segment.text, segment.language, dark) if segment.text else "&nbsp;"
    label = html.escape(segment.language or "code") + ("" if segment.closed else " …")
    return (f'<table width="100%" cellspacing="0" cellpadding="8" bgcolor="{background}" '
            f'style="border: 1px solid {border}; margin-top: 4px; margin-bottom: 4px;"><tr><td>'
            f'<span style="color: {label_colour}; font-size: small;">{label}</span>'
            f'<pre style="margin: 0; font-family: monospace;">{code}</pre></td></tr></table>')


def stable_prefix_length(text: str) -> int:
    """How much of a streaming answer is finished Markdown: up to its last blank line outside a code block.

    Text before that point will render the same however the answer goes on, so a streaming view can
    draw it once and redraw only the rest.
    """
    cut = 0
    in_fence = ""
    position = 0
    for line in text.split("\n")[:-1]:  # the last line may still be growing
        end = position + len(line) + 1
        match = _FENCE.match(line)
        if in_fence:
            stripped = line.strip()
            if stripped and set(stripped) == {in_fence[0]} and len(stripped) >= len(in_fence):
                in_fence = ""
                cut = end  # a closed code block is finished
        elif match is not None:
            in_fence = match.group("fence")
        elif not line.strip():
            cut = end
        position = end
    return cut


def render_markdown(text: str, *, dark: bool = False) -> str:
    """HTML for an answer (complete or still streaming)."""
    parts = []
    for segment in split_fences(text):
        if segment.code:
            parts.append(_code_html(segment, dark))
        elif segment.text.strip():
            parts.append(_prose_html(segment.text, dark))
    return "\n".join(parts)


def warm_up() -> None:
    """Import Markdown and pygments and build their tables once (call off the UI thread, before streaming)."""
    render_markdown("*warm* `up`\n\n| a |\n|---|\n| 1 |\n\n```python\nx = 1\n```\n```\nplain\n```")
    render_markdown("```python\ny = 2\n```", dark=True)


def render_plain(text: str) -> str:
    """HTML for text shown as typed (user messages): escaped, line breaks kept."""
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
