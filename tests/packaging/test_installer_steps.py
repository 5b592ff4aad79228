"""Install steps: their lines, their logs, the filtered progress of real subprocesses, failures."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import installer_progress
import installer_steps as steps
import installer_tools as tools
import pytest
from installer_support import make_script, make_step


def test_a_step_prints_its_line_its_log_path_and_its_duration(tmp_path: Path) -> None:
    argv = make_script(tmp_path, "pip.sh", 'echo "Collecting numpy"\necho "Successfully installed numpy-2.3.5"\n')
    printed: list[str] = []
    elapsed = steps.run_step(make_step(tmp_path, argv), 3, 5, printed.append)

    assert printed[0] == ("[3/5] build llama.cpp for this CPU (portable flags), about 10 min on 2 cores — "
                          f"log in {tmp_path / 'venv' / 'build-llama.log'}")
    assert re.fullmatch(r" +done in \d+ s", printed[-1])
    assert 0 < elapsed < 30
    log = (tmp_path / "venv" / "build-llama.log").read_text()
    assert f"$ {argv[0]}" in log and "Successfully installed numpy-2.3.5" in log


def test_a_step_already_done_says_so_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = make_script(tmp_path, "touch.sh", f"touch {marker}\n")
    printed: list[str] = []
    step = steps.Step("venv", "create the virtual environment venv", "a few seconds", tmp_path / "v.log",
                        (steps.Command(argv),), skip_reason="already there")
    assert steps.run_step(step, 1, 5, printed.append) == 0.0
    assert printed == ["[1/5] create the virtual environment venv: already there"]
    assert not marker.exists()


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
    argv = make_script(tmp_path, "build.sh", "\n".join(body) + "\n")
    printed: list[str] = []
    steps.run_step(make_step(tmp_path, argv, build=True), 3, 5, printed.append)

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


def test_silence_gives_a_heartbeat(tmp_path: Path) -> None:
    argv = make_script(tmp_path, "quiet.sh", "sleep 1.2\n")
    log = tmp_path / "quiet.log"
    printed: list[str] = []
    started = time.monotonic()
    throttle = installer_progress.ProgressFilter(started=started, heartbeat=0.5)
    code = steps.run_logged(steps.Command(argv), log, throttle, printed.append, poll=0.05)
    assert code == 0
    assert 1 <= len(printed) <= 3
    assert all(re.fullmatch(r" +… still working, \d+ s so far", line) for line in printed)


def test_a_failed_build_prints_the_end_of_its_log_and_what_to_install(tmp_path: Path) -> None:
    argv = make_script(tmp_path, "fail.sh", "\n".join([
        'for i in $(seq 1 40); do echo "configure line $i"; done',
        'echo "CMake Error at CMakeLists.txt:3 (project):"',
        'echo "  No CMAKE_CXX_COMPILER could be found."',
        "exit 1"]) + "\n")
    step = make_step(tmp_path, argv, build=True, advice=tools.build_advice)
    printed: list[str] = []
    with pytest.raises(steps.StepFailed) as caught:
        steps.run_step(step, 3, 5, printed.append)
    steps.report_failure(caught.value, printed.append)

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
    excerpt = steps.log_excerpt(log)
    assert excerpt[0] == "FAILED: ops.cpp.o" and "'vec_dot' was not declared" in excerpt[1]
    assert excerpt[excerpt.index("…") + 1:] == [f"pip boilerplate {i}" for i in range(15, 40)]
    short = tmp_path / "short.log"
    short.write_text(compile_line + "\nerror: it broke\n")
    assert steps.log_excerpt(short) == [compile_line[:299] + "…", "error: it broke"]
