"""Install steps: run a step's commands with their output in its log, print the filtered progress, and
report a failure with the log's first error, its tail and what to do."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from installer_progress import PROGRESS_INDENT, ProgressFilter, format_duration


def say(text: str = "") -> None:
    """Print one line of the installer's own output at once (make buffers nothing, pip's output goes to logs)."""
    print(text, flush=True)  # noqa: T201


def shown_path(path: Path) -> str:
    """The path relative to the current folder where it lies under it (what a user typed), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)



@dataclass(frozen=True)
class Command:
    """One program a step runs, with extra environment variables."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One announced piece of the install: commands whose output goes to ``log``, filtered to the terminal."""

    key: str
    title: str
    estimate: str
    log: Path
    commands: tuple[Command, ...]
    build: bool = False
    skip_reason: str = ""
    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None
    advice: Callable[[str], str] | None = None

    def heading(self, number: int, total: int) -> str:
        """The step's line: number, what it does, roughly how long, and its log."""
        return f"[{number}/{total}] {self.title}, {self.estimate} — log in {shown_path(self.log)}"


class StepFailed(Exception):
    """A step that could not finish; carries what to tell the user."""

    def __init__(self, step: Step, reason: str, advice: str = "", show_log: bool = True) -> None:
        super().__init__(reason)
        self.step, self.reason, self.advice, self.show_log = step, reason, advice, show_log


def run_logged(command: Command, log: Path, progress: ProgressFilter, out: Callable[[str], None] = say,
               poll: float = 0.25) -> int:
    """Run one command with its output appended to ``log``; print the filtered new lines while it runs."""
    with log.open("ab") as sink:
        sink.write(f"$ {shlex.join(command.argv)}\n".encode())
        sink.flush()
        start = sink.tell()
        # A session of its own, so that stopping the step stops pip's whole tree (CMake, Ninja, compilers).
        process = subprocess.Popen(command.argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **command.env}, start_new_session=True)
    pending = b""
    with log.open("rb") as tail:
        tail.seek(start)
        try:
            while True:
                code = process.poll()
                chunk = tail.read()
                now = time.monotonic()
                if chunk:
                    # pip and CMake end lines with \n, progress bars with \r: both end a line here.
                    *lines, pending = re.split(rb"\r\n|\r|\n", pending + chunk)
                    for raw in lines:
                        for text in progress.feed(raw.decode(errors="replace"), now):
                            out(text)
                elif code is not None:
                    break
                for text in progress.tick(now):
                    out(text)
                if not chunk:
                    time.sleep(poll)
        except BaseException:
            _stop_tree(process)
            raise
    if pending:
        for text in progress.feed(pending.decode(errors="replace"), time.monotonic()):
            out(text)
    return code


def _stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a step's process and everything it started (SIGTERM, then SIGKILL after 10 s)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


_FIRST_ERROR = re.compile(r"^\s*(?:FAILED:|CMake Error|ERROR:|error:|.*: (?:fatal )?error:)")


def log_excerpt(log: Path, tail: int = 25, width: int = 300) -> list[str]:
    """What to show of a failed step's log: its first error with a few lines after it (a compiler's message
    sits far above pip's closing boilerplate), then its last ``tail`` non-blank lines; long lines cut."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []
    cut = [line if len(line) <= width else line[:width - 1] + "…" for line in lines]
    first = next((i for i, line in enumerate(lines) if _FIRST_ERROR.match(line)), None)
    if first is None or first >= len(lines) - tail:
        return cut[-tail:]
    return [*cut[first:min(first + 8, len(lines) - tail)], "…", *cut[-tail:]]


def run_step(step: Step, number: int, total: int, out: Callable[[str], None] = say) -> float:
    """Announce and run one step; its duration in seconds. Raises StepFailed with the log's advice."""
    started = time.monotonic()
    if step.skip_reason:
        out(f"[{number}/{total}] {step.title}: {step.skip_reason}")
        return 0.0
    out(step.heading(number, total))
    step.log.parent.mkdir(parents=True, exist_ok=True)
    step.log.write_text("")
    if step.before is not None:
        step.before()
    # One filter for the whole step: its clock and its throttle span the build and the install after it.
    progress = ProgressFilter(started=started, build=step.build)
    for command in step.commands:
        try:
            code = run_logged(command, step.log, progress, out)
        except OSError as exc:
            raise StepFailed(step, f"cannot run {command.argv[0]}: {exc}") from exc
        if code != 0:
            text = step.log.read_text(errors="replace")
            advice = step.advice(text) if step.advice is not None else ""
            raise StepFailed(step, f"{Path(command.argv[0]).name} exited with code {code}", advice)
    if step.after is not None:
        step.after()
    elapsed = time.monotonic() - started
    out(f"{PROGRESS_INDENT}done in {format_duration(elapsed)}")
    return elapsed


def report_failure(failure: StepFailed, out: Callable[[str], None] = say) -> None:
    """The end of the failed step's log, what to do about it, and where the whole log is."""
    step = failure.step
    out(f"✗ {step.title} failed: {failure.reason}.")
    tail = log_excerpt(step.log) if failure.show_log else []
    if tail:
        out(f"  last lines of {shown_path(step.log)}:")
        for line in tail:
            out(f"    {line}")
    if failure.advice:
        for line in failure.advice.splitlines():
            out(f"  {line}")
    out(f"  whole log: {shown_path(step.log)}")
