"""Which build and pip lines reach the terminal, and how often."""

from __future__ import annotations

import installer_progress
import pytest


@pytest.mark.parametrize(("line", "expected"), [
    ("[ 46%] Building CXX object vendor/llama.cpp/src/CMakeFiles/llama.dir/llama-model.cpp.o",
     (46, "compiling llama-model.cpp")),
    ("  [100%] Linking CXX shared library bin/libllama.so", (100, "linking libllama.so")),
    ("[12/240] /usr/bin/g++ -DGGML_SHARED -O3 -c /tmp/pip-x/vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp",
     (5, "compiling ops.cpp")),
    ("[240/240] : && /usr/bin/g++ -fPIC -shared -o bin/libggml.so ggml.o && :", (100, "linking libggml.so")),
    ("[190/193] /usr/bin/cmake -E cmake_symlink_library bin/libllama.so.0.5.0 bin/libllama.so.0 bin/libllama.so && :",
     (98, "linking libllama.so.0.5.0")),
    ("WARNING: Location 'file:///opt/pypi/simple/x/' is ignored", None),
    ("-- Configuring done (1.2s)", None),
])
def test_build_lines_give_a_percentage_and_a_short_label(line: str, expected: tuple[int, str] | None) -> None:
    assert installer_progress.build_progress(line) == expected


def test_a_slow_build_still_shows_each_advance_after_the_interval() -> None:
    progress = installer_progress.ProgressFilter(started=0.0, build=True, min_points=5, interval=20.0)
    assert progress.feed("[ 1%] Building C object a.c.o", 1.0) != []
    assert progress.feed("[ 2%] Building C object b.c.o", 2.0) == []  # too soon, too small
    assert progress.feed("[ 3%] Building C object c.c.o", 25.0) != []  # small, but 20 s of silence before it
    assert progress.feed("[ 3%] Building C object d.c.o", 50.0) == []  # no advance at all


def test_pip_news_is_shown_at_most_every_interval() -> None:
    progress = installer_progress.ProgressFilter(started=0.0, interval=20.0)
    assert progress.feed("Collecting torch==2.14.1", 5.0) == []
    assert progress.feed("Collecting numpy==2.3.5", 21.0) == ["      Collecting numpy==2.3.5"]
    assert progress.feed("  Downloading numpy-2.3.5.whl (16.6 MB)", 30.0) == []
    assert progress.feed("WARNING: Location 'file:///opt/pypi/simple/x/' is ignored", 60.0) == []
