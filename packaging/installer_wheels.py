"""The llama-cpp-python wheel cache: one folder per version and set of CMake flags, published in one rename;
what a venv already holds."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import shutil
import sys
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path


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
