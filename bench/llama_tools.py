"""llama.cpp's own command-line tools (llama-bench, llama-server, llama-perplexity), built once as peers.

Bench scripts measure the workbench against llama.cpp's reference tools on the same machine. The tools are
built from the llama.cpp that the installed llama-cpp-python vendors (its sdist's ``vendor/llama.cpp``), with
the same portable CMake flags the Makefile gives llama-cpp-python, so both sides run the same kernels. The
build goes to a cache folder under the workbench data folder keyed by the llama-cpp-python version and
those flags; a file lock makes concurrent callers wait for one build instead of starting their own. Only
bench scripts build: ``make test`` never imports this module.

API: ``tool_path(name)`` (builds on first use), ``cache_folder()``, ``TOOLS``.
Usage: python bench/llama_tools.py    (builds all three, prints their paths)
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.paths import cache_dir

TOOLS = ("llama-bench", "llama-server", "llama-perplexity")
# Tools and server on; no curl (no network here, and the peers only read local files); no tests/examples
# (they would double the build time); static libraries so the binaries stand alone in the cache.
_TOOL_CMAKE_ARGS = ("-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF",
                    "-DCMAKE_BUILD_TYPE=Release")
_REPO = Path(__file__).resolve().parents[1]
_JOBS = "2"


def llama_cpp_python_version() -> str:
    """The installed llama-cpp-python's version (the tools are built from the llama.cpp it vendors)."""
    return importlib.metadata.version("llama-cpp-python")


def makefile_cmake_args() -> list[str]:
    """The portable CMake flags the Makefile builds llama-cpp-python with (``LLAMA_CMAKE_ARGS``)."""
    text = (_REPO / "Makefile").read_text()
    match = re.search(r"^LLAMA_CMAKE_ARGS\s*:?=\s*(.+)$", text, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("the Makefile defines no LLAMA_CMAKE_ARGS")
    return shlex.split(match.group(1))


def cache_folder() -> Path:
    """The folder these tools are built in: one per llama-cpp-python version and set of CMake flags."""
    flags = " ".join(makefile_cmake_args() + list(_TOOL_CMAKE_ARGS))
    key = hashlib.sha256(flags.encode()).hexdigest()[:12]
    return cache_dir("llama-tools") / f"llama-cpp-python-{llama_cpp_python_version()}-{key}"


def _binary(folder: Path, name: str) -> Path:
    return folder / "build" / "bin" / name


def _stamp(folder: Path, name: str) -> Path:
    # Written once the build of ``name`` succeeded: a binary the linker is still writing has none.
    return folder / f"{name}.built"


def _built(folder: Path, name: str) -> bool:
    return _stamp(folder, name).is_file() and os.access(_binary(folder, name), os.X_OK)


def _run(command: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {shlex.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with exit status {done.returncode}; see {log}")


def _source_tree(folder: Path, log: Path) -> Path:
    """The sdist's vendored llama.cpp, downloading and unpacking the sdist if it is not there yet."""
    version = llama_cpp_python_version()
    unpacked = folder / "src" / f"llama_cpp_python-{version}"
    vendored = unpacked / "vendor" / "llama.cpp"
    if (vendored / "CMakeLists.txt").is_file():
        return vendored
    sdist_dir = folder / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    archives = sorted(sdist_dir.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              f"llama-cpp-python=={version}", "-d", str(sdist_dir)], log)
        archives = sorted(sdist_dir.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download left no llama_cpp_python sdist in {sdist_dir}")
    target = folder / "src"
    target.mkdir(exist_ok=True)
    with tarfile.open(archives[-1]) as archive:
        archive.extractall(target, filter="data")  # "data": no links or paths that leave the folder
    if not (vendored / "CMakeLists.txt").is_file():
        raise RuntimeError(f"the sdist has no vendor/llama.cpp at {vendored}")
    return vendored


def build(tools: tuple[str, ...] = TOOLS) -> dict[str, Path]:
    """Build the named tools if they are not built yet (waits for a build another process runs)."""
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise ValueError(f"unknown llama.cpp tool(s) {sorted(unknown)}; known: {', '.join(TOOLS)}")
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "build.log"
    if all(_built(folder, name) for name in tools):
        return {name: _binary(folder, name) for name in tools}
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits here, then finds the binaries built
        missing = [name for name in tools if not _built(folder, name)]
        if missing:
            source = _source_tree(folder, log)
            build_dir = folder / "build"
            # Niced: the machine is shared, and a build must not skew the measurements others run.
            nice = ["nice", "-n", "10"]
            if not (build_dir / "CMakeCache.txt").is_file():
                # All three tools from one configure, so later callers only build, never reconfigure.
                _run([*nice, "cmake", "-S", str(source), "-B", str(build_dir),
                      *makefile_cmake_args(), *_TOOL_CMAKE_ARGS], log)
            # One build for what is missing; the libraries they share are compiled once and reused.
            _run([*nice, "cmake", "--build", str(build_dir), "--config", "Release",
                  "--target", *missing, "-j", _JOBS], log)
            for name in missing:
                if not os.access(_binary(folder, name), os.X_OK):
                    raise RuntimeError(f"the build did not produce {name} at {_binary(folder, name)}; see {log}")
                _stamp(folder, name).touch()
    return {name: _binary(folder, name) for name in tools}


def tool_path(name: str) -> Path:
    """Path of the llama.cpp tool ``name`` (``llama-bench``, ``llama-server``, ``llama-perplexity``)."""
    return build((name,))[name]


# The static libraries a tool links, and the shared libraries of the installed wheel that replace them.
_STATIC_LIBS = {"libllama.a": "llama", "libggml.a": "ggml", "libggml-cpu.a": "ggml-cpu", "libggml-base.a": "ggml-base"}


def wheel_lib_dir() -> Path:
    """The folder holding the llama-cpp-python wheel's shared libraries (what the workbench runs)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llama_cpp is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def wheel_linked(name: str = "llama-bench") -> Path:
    """``name`` relinked from its cached objects against the wheel's shared libraries (same code as ours).

    The cached tools are static, non-PIC builds; the wheel's libraries are shared and position independent,
    which costs some kernels a few per cent (Gemma 3's prompt processing: ~4 %). Linking the tool's own
    objects against the very libraries the workbench loads separates *how* each side measures from *what
    code* it measures. Takes a second: only the link step runs again.
    """
    folder = cache_folder()
    tool_path(name)  # the objects come from the cached build
    libs = wheel_lib_dir()
    out = folder / f"{name}-wheel-libs"
    key = f"{libs}:{max(p.stat().st_mtime_ns for p in libs.glob('*.so*'))}"
    stamp = folder / f"{name}-wheel-libs.built"
    if os.access(out, os.X_OK) and stamp.is_file() and stamp.read_text() == key:
        return out
    link_dir = folder / "build" / "tools" / name
    command = shlex.split((link_dir / "CMakeFiles" / f"{name}.dir" / "link.txt").read_text())
    linked: list[str] = []
    replaced = False
    for index, part in enumerate(command):
        if index > 0 and command[index - 1] == "-o":
            linked.append(str(out))
        elif Path(part).name in _STATIC_LIBS:
            if not replaced:
                linked += [f"-L{libs}", f"-Wl,-rpath,{libs}", *(f"-l{lib}" for lib in _STATIC_LIBS.values())]
                replaced = True
        else:
            linked.append(part)
    if not replaced:
        raise RuntimeError(f"{name}'s link command names none of {sorted(_STATIC_LIBS)}")
    _run(linked, folder / "build.log", cwd=link_dir)
    stamp.write_text(key)
    return out


def main() -> int:
    """Build all three tools (llama-bench first: the LLM benches need it soonest) and print their paths."""
    for name in TOOLS:
        print(f"{name}: {tool_path(name)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
