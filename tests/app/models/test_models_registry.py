"""The registry on the shared SQLite ``models`` table, the starter models, and ``-m ID`` resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub_server import tiny_gguf

from app.model_refs import resolve_model_ref
from app.models.errors import ModelError, Reason
from app.models.records import ModelRecord
from app.models.registry import Registry, lookup_path


def _record(path: Path, model_id: str = "tiny", **changes: object) -> ModelRecord:
    values: dict = {"id": model_id, "kind": "llm", "format": "gguf", "path": str(path), "source": "import",
                    "size_bytes": path.stat().st_size, "quant": "Q4_K_M", "meta": {"architecture": "llama"}}
    values.update(changes)
    return ModelRecord(**values)


def test_add_get_list_and_remove(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(tiny_gguf())
    stored, created = registry.add(_record(path, "Tiny Model Q4"))
    assert created and stored.id == "tiny-model-q4"
    assert registry.get("TINY-model-q4") == stored  # ids are case-insensitive
    assert stored.meta == {"architecture": "llama"} and stored.added_at is not None
    row = registry.history.db.execute("SELECT kind, format, path, source FROM models").fetchone()
    assert row == ("llm", "gguf", str(path), "import")

    assert [r.id for r in registry.list(include_starters=False)] == ["tiny-model-q4"]
    removed = registry.remove("tiny-model-q4")
    assert removed.id == "tiny-model-q4" and registry.get("tiny-model-q4") is None
    with pytest.raises(ModelError) as error:
        registry.remove("tiny-model-q4")
    assert error.value.reason is Reason.NOT_FOUND


def test_same_file_keeps_its_id_and_other_files_get_unique_ids(registry: Registry, tmp_path: Path) -> None:
    first, second = tmp_path / "a.gguf", tmp_path / "b.gguf"
    first.write_bytes(tiny_gguf())
    second.write_bytes(tiny_gguf())
    one, _ = registry.add(_record(first, "tiny"))
    again, created = registry.add(_record(first, "other-name", quant="Q8_0"))
    assert not created and again.id == one.id and again.quant == "Q8_0" and again.added_at == one.added_at
    two, created = registry.add(_record(second, "tiny"))
    assert created and two.id == "tiny-2"
    # A starter model's id is never handed out to a registered file.
    three, _ = registry.add(_record(tmp_path / "a.gguf", "x"))
    clash, _ = registry.add(_record(second.with_name("b.gguf"), "smollm2-135m-instruct"))
    assert three.id == one.id and clash.id == "tiny-2"


def test_scan_does_not_overwrite_what_a_pull_registered(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(tiny_gguf())
    registry.add(_record(path, source="hub", repo="org/tiny", sha256="ab" * 32))
    kept, created = registry.add(_record(path, source="hf-cache", repo=None), refresh=False)
    assert not created and kept.source == "hub" and kept.sha256 == "ab" * 32


def test_starter_models_are_listed_as_installed_packages(registry: Registry) -> None:
    starters = [r for r in registry.list() if r.source == "package"]
    ids = {r.id for r in starters}
    assert "efficientnet-lite0" in ids
    effnet = next(r for r in starters if r.id == "efficientnet-lite0")
    assert effnet.exists and Path(effnet.path).is_file()
    assert effnet.size_bytes == Path(effnet.path).stat().st_size
    assert effnet.sha256 is not None and len(effnet.sha256) == 64
    with pytest.raises(ModelError, match="pip uninstall"):
        registry.remove("efficientnet-lite0")


def test_model_refs_resolve_a_registered_id_and_mark_it_used(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(tiny_gguf())
    stored, _ = registry.add(_record(path, "my-tiny"))
    assert stored.last_used_at is None
    assert resolve_model_ref("my-tiny", "llm") == path
    assert lookup_path("my-tiny", "vision") is None  # wrong kind
    assert lookup_path("nothing-here") is None
    used = registry.get("my-tiny")
    assert used is not None and used.last_used_at is not None
    assert registry.list(include_starters=False)[0].id == "my-tiny"
