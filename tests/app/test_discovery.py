"""Engine discovery through real entry points, including a plugin that fails at import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from app.discovery import discover


def _install_fake_distribution(root: Path, name: str, entry_points: str) -> None:
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)


def test_builtin_engines_are_discovered_without_heavy_imports() -> None:
    code = textwrap.dedent("""
        import sys, json
        from app.discovery import discover
        found = discover()
        heavy = [m for m in ("torch", "llama_cpp", "onnxruntime", "pgmpy", "pyagrum", "PySide6") if m in sys.modules]
        print(json.dumps({"ids": sorted(found.specs), "broken": found.broken, "heavy": heavy}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    data = json.loads(out.stdout)
    assert data["heavy"] == []
    assert {"llm", "vision", "bayes"} <= set(data["ids"]) or data["broken"]


def test_a_plugin_that_raises_at_import_is_listed_as_broken(tmp_path: Path) -> None:
    (tmp_path / "badplugin.py").write_text("raise RuntimeError('plugin exploded')\n")
    (tmp_path / "goodplugin.py").write_text(textwrap.dedent("""
        from engines.base import EngineKind, EngineSpec
        SPEC = EngineSpec(id="good3p", kind=EngineKind.OTHER, title="third party", engine_class="goodplugin:X")
    """))
    _install_fake_distribution(tmp_path, "thirdparty", "[workbench.engines]\nbad = badplugin:SPEC\n"
                               "good = goodplugin:SPEC\nwrong = goodplugin:EngineKind\n")
    sys.path.insert(0, str(tmp_path))
    try:
        found = discover()
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("badplugin", "goodplugin"):
            sys.modules.pop(name, None)
    assert "plugin exploded" in found.broken["bad"]
    assert "not an EngineSpec" in found.broken["wrong"]
    assert found.specs["good3p"].title == "third party"


def test_engines_command_lists_broken_plugins(tmp_path: Path) -> None:
    (tmp_path / "badplugin2.py").write_text("import no_such_module_xyz\n")
    _install_fake_distribution(tmp_path, "thirdparty2", "[workbench.engines]\nbroken2 = badplugin2:SPEC\n")
    env_path = f"{tmp_path}"
    out = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "from app.cli import main; sys.exit(main(['engines', '--no-probe']))", env_path],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "broken2" in out.stdout and "broken" in out.stdout and "no_such_module_xyz" in out.stdout
