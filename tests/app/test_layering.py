"""app/ and engines/ never import Qt; the CLI starts without heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_app_and_engines_never_import_qt_or_ui() -> None:
    offenders = []
    for package in ("app", "engines"):
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & {"PySide6", "pyqtgraph", "ui", "shiboken6"}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_cli_help_imports_no_heavy_library() -> None:
    code = ("import sys; from app.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch','llama_cpp','onnxruntime','pgmpy','pyagrum','PySide6',"
            "'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
