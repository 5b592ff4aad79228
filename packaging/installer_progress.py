"""Which lines of an install step's output reach the terminal: CMake's `[ NN%]` progress, a build's phases,
pip's news, throttled, and a heartbeat in silence (standard library only: it runs before any venv)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROGRESS_INDENT = "      "

_MAKE_PROGRESS = re.compile(r"^\[\s*(\d{1,3})%\]\s*(.*)$")
_NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")
_SOURCE_FILE = re.compile(r"\s-c\s+(\S+\.(?:c|cc|cpp|cxx|cu|m|mm))(?:\s|$)")
_OUTPUT_LIBRARY = re.compile(r"\s-o\s+(\S+\.(?:so|a|dylib|dll)(?:\.\S+)?)(?:\s|$)")
_MAKE_OBJECT = re.compile(r"^Building \w+ object (\S+)")
_SYMLINK = re.compile(r"cmake_symlink_library (\S+)")
_MAKE_LINK = re.compile(r"^Linking \w+ (?:shared |static |module )?(?:library|executable) (\S+)")
_PIP_NEWS = ("Collecting ", "Downloading ", "Building wheel", "Building editable", "Installing collected packages",
             "Successfully installed", "Successfully built", "Processing ", "Requirement already satisfied")


def format_duration(seconds: float) -> str:
    """``4 s``, ``2 min 5 s``, ``1 h 3 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"



def build_progress(line: str) -> tuple[int, str] | None:
    """The percentage and a short label of one CMake build line (Make's ``[ 46%]``, Ninja's ``[12/245]``)."""
    line = line.strip()
    match = _MAKE_PROGRESS.match(line)
    if match:
        return min(int(match.group(1)), 100), _build_label(match.group(2))
    match = _NINJA_PROGRESS.match(line)
    if match and int(match.group(2)) > 0:
        done, total = int(match.group(1)), int(match.group(2))
        return min(done * 100 // total, 100), _build_label(match.group(3))
    return None


def _build_label(rest: str) -> str:
    # Make prints "Building CXX object …/llama-model.cpp.o"; a verbose Ninja build prints the whole compiler line.
    for pattern, verb in ((_SOURCE_FILE, "compiling"), (_OUTPUT_LIBRARY, "linking"), (_MAKE_OBJECT, "compiling"),
                          (_MAKE_LINK, "linking"), (_SYMLINK, "linking")):
        match = pattern.search(rest)
        if match:
            return f"{verb} {Path(match.group(1)).name.removesuffix('.o')}"
    rest = " ".join(rest.split())
    return rest if len(rest) <= 70 else rest[:69] + "…"


def build_phase(line: str) -> str | None:
    """The few lines that mark a build's phases: the sdist download and scikit-build-core's ``*** Configuring``,
    ``*** Building``, ``*** Making wheel`` (the minute before the first compile would otherwise look idle)."""
    line = line.strip()
    if line.startswith("*** ") and not line.startswith("*** scikit-build-core"):
        return line.removeprefix("*** ")
    if line.startswith("Downloading ") and ".tar.gz" in line:  # the sdist, not the build's own dependencies
        return line
    return None


def pip_news(line: str) -> str | None:
    """The line itself where pip reports progress (collecting, downloading, installing), else None."""
    line = line.strip()
    if line.startswith(_PIP_NEWS):
        return line if len(line) <= 100 else line[:99] + "…"
    return None


@dataclass
class ProgressFilter:
    """Throttles a step's output: build lines every ``min_points`` percent (or after ``interval`` s with any
    advance), other news at most every ``interval`` s, and a heartbeat after ``heartbeat`` s of silence."""

    started: float
    build: bool = False
    min_points: int = 5
    interval: float = 30.0
    heartbeat: float = 60.0
    last_percent: int = -1
    last_print: float = field(init=False)
    last_heartbeat: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_print = self.last_heartbeat = self.started

    def feed(self, line: str, now: float) -> list[str]:
        """The lines (zero or one) to print for one line of the step's output."""
        if self.build:
            phase = build_phase(line)
            if phase is not None:
                return [self._printed(now, f"{phase} · {format_duration(now - self.started)}")]
            progress = build_progress(line)
            if progress is None:
                return []
            percent, label = progress
            first, advanced = self.last_percent < 0, percent > self.last_percent
            enough = percent >= self.last_percent + self.min_points or percent == 100
            if not advanced or not (first or enough or now - self.last_print >= self.interval):
                return []
            self.last_percent = percent
            return [self._printed(now, f"[{percent:3d}%] {label} · {format_duration(now - self.started)}")]
        news = pip_news(line)
        if news is None or now - self.last_print < self.interval:
            return []
        return [self._printed(now, news)]

    def tick(self, now: float) -> list[str]:
        """A heartbeat line where nothing was printed for ``heartbeat`` seconds (so a build never looks hung)."""
        if now - max(self.last_print, self.last_heartbeat) < self.heartbeat:
            return []
        self.last_heartbeat = now
        return [f"{PROGRESS_INDENT}… still working, {format_duration(now - self.started)} so far"]

    def _printed(self, now: float, text: str) -> str:
        self.last_print = now
        return f"{PROGRESS_INDENT}{text}"
