"""The line that installs a compiler and cmake on each kind of system."""

from __future__ import annotations

import installer_tools as tools
import pytest


@pytest.mark.parametrize(("family", "line"), [
    ("debian", "sudo apt install build-essential cmake"),
    ("fedora", "sudo dnf install gcc gcc-c++ make cmake"),
    ("macos", "xcode-select --install && brew install cmake"),
    ("other", "install gcc and g++ (or clang) and cmake with your package manager"),
])
def test_the_install_line_fits_the_system(family: str, line: str) -> None:
    assert tools.install_command(compiler=True, cmake=True, family=family) == line


def test_what_is_missing_is_named_with_its_install_line() -> None:
    only_cxx = tools.missing_tools_message(tools.BuildTools("/usr/bin/cc", None, "/usr/bin/cmake"))
    assert only_cxx.splitlines()[0].startswith("no C++ compiler found")
    assert only_cxx.splitlines()[1].startswith("install: ") and "cmake" not in only_cxx.splitlines()[1]
    assert tools.missing_tools_message(tools.BuildTools("/usr/bin/cc", "/usr/bin/c++", "/usr/bin/cmake")) == ""


def test_a_build_killed_for_memory_is_told_to_use_one_job() -> None:
    advice = tools.build_advice("c++: fatal error: Killed signal terminated program cc1plus\n")
    assert "ran out of memory" in advice and "CMAKE_BUILD_PARALLEL_LEVEL=1 make install" in advice
