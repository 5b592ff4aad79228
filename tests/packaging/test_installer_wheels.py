"""The llama-cpp-python wheel cache: its key, its folder, the pinned version, publishing."""

from __future__ import annotations

from pathlib import Path

import installer_wheels as wheels
import pytest
from installer_support import FLAGS, ROOT, make_wheel, write_constraints


def test_the_cache_key_follows_the_flags_and_the_version() -> None:
    key = wheels.wheel_cache_key("0.3.36", FLAGS, machine="x86_64", system="linux")
    assert key.startswith("llama_cpp_python-0.3.36-")
    assert wheels.wheel_cache_key("0.3.36", "  -DGGML_NATIVE=OFF   -DGGML_AVX2=ON ", "x86_64", "linux") == key
    assert wheels.wheel_cache_key("0.3.36", FLAGS + " -DGGML_BMI2=ON", "x86_64", "linux") != key
    assert wheels.wheel_cache_key("0.3.37", FLAGS, "x86_64", "linux") != key
    assert wheels.wheel_cache_key("0.3.36", FLAGS, "aarch64", "linux") != key


def test_the_cache_lives_under_xdg_cache_home(tmp_path: Path) -> None:
    assert wheels.wheel_cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "local-ai-workbench" / "wheels"
    # The XDG spec: a relative XDG_CACHE_HOME is ignored.
    assert wheels.wheel_cache_root({"XDG_CACHE_HOME": "rel", "HOME": str(tmp_path)}) == (
        tmp_path / ".cache" / "local-ai-workbench" / "wheels")


def test_the_version_built_is_the_one_constraints_pins(tmp_path: Path) -> None:
    assert wheels.pinned_version(write_constraints(tmp_path, "0.3.40"), "llama-cpp-python") == "0.3.40"
    assert wheels.pinned_version(ROOT / "constraints.txt", "llama-cpp-python") == _pin_in_repo()
    with pytest.raises(ValueError, match="does not pin llama-cpp-python"):
        wheels.pinned_version(ROOT / "pyproject.toml", "llama-cpp-python")


def _pin_in_repo() -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().replace("_", "-") == "llama-cpp-python":
            return version.strip()
    raise AssertionError("constraints.txt pins no llama-cpp-python")


def test_a_finished_build_is_published_whole_and_a_second_one_keeps_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "wheels" / "llama_cpp_python-0.0.1-abc"
    first = make_wheel(tmp_path / "wheels" / ".building-1", "0.0.1").parent
    wheels.publish_wheel(first, folder, "0.0.1", FLAGS)
    assert not first.exists() and wheels.cached_wheel(folder, "0.0.1") is not None
    assert f"CMAKE_ARGS={FLAGS}" in (folder / "BUILD-INFO.txt").read_text()

    second = make_wheel(tmp_path / "wheels" / ".building-2", "0.0.1").parent
    before = (folder / "BUILD-INFO.txt").read_text()
    wheels.publish_wheel(second, folder, "0.0.1", FLAGS)
    assert not second.exists() and (folder / "BUILD-INFO.txt").read_text() == before
