"""What a llama.cpp build needs (C and C++ compilers, cmake), what is missing, and the line that installs it;
advice for failed steps read from their logs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


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
