"""Reading a network file's text and pointing at a line in it when something is wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

from engines.base import EngineError, ErrorKind


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip-compressed (by content, not by name)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EngineError(ErrorKind.NOT_FOUND, f"no such file: {path}") from None
    except OSError as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise EngineError(ErrorKind.BAD_INPUT, f"{path}: damaged gzip data ({exc})") from None
    return data


def decode(data: bytes) -> str:
    """UTF-8 text, falling back to Latin-1 (older GeNIe and Hugin files)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class SourceText:
    """A file's text plus its name, so errors can say ``file, line N: ...``."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name

    def line_of(self, pos: int) -> int:
        """1-based line number of character offset ``pos``."""
        return self.text.count("\n", 0, max(0, min(pos, len(self.text)))) + 1

    def error(self, pos: int, message: str) -> EngineError:
        """A BAD_INPUT error pointing at the line holding ``pos``."""
        return line_error(self.name, self.line_of(pos), message)

    def found(self, pos: int) -> str:
        """What stands at ``pos``, for 'expected X, found Y' messages."""
        if pos >= len(self.text):
            return "the end of the file"
        snippet = self.text[pos:pos + 20].split("\n", 1)[0].strip()
        return repr(snippet) if snippet else "a line break"


def first_non_number(tokens: list[str]) -> str:
    """The first token that does not read as a float (for 'expected a probability, found X')."""
    for token in tokens:
        try:
            float(token)
        except ValueError:
            return token
    return ""


def line_error(source: str, line: int | None, message: str) -> EngineError:
    """A BAD_INPUT error naming the file and (when known) the line."""
    where = f"{source}, line {line}" if line is not None else source
    return EngineError(ErrorKind.BAD_INPUT, f"{where}: {message}")
