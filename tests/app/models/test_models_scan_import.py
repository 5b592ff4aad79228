"""``import`` and ``scan``: models already on disk (LM Studio, Ollama, the HF cache) registered in place."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest
from fake_hub_server import tiny_gguf

from app.models.api import ModelManager
from app.models.errors import ModelError, Reason
from app.models.scan import ScanRoots


def _lmstudio(root: Path) -> Path:
    folder = root / "lmstudio-community" / "Qwen2.5-0.5B-Instruct-GGUF"
    folder.mkdir(parents=True)
    (folder / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf").write_bytes(tiny_gguf(name="qwen"))
    (folder / "mmproj-Qwen2.5-f16.gguf").write_bytes(tiny_gguf(architecture="clip"))
    split = root / "bartowski" / "Big-GGUF"
    split.mkdir(parents=True)
    (split / "Big-Q8_0-00001-of-00002.gguf").write_bytes(tiny_gguf(file_type=7))
    (split / "Big-Q8_0-00002-of-00002.gguf").write_bytes(b"second part")
    (split / "broken-Q4_0.gguf").write_bytes(tiny_gguf()[:30])
    return root


def _ollama(root: Path) -> tuple[Path, str]:
    model = tiny_gguf(file_type=None, name="llama3.2")  # no file type in the header: Ollama's config says it
    digest = hashlib.sha256(model).hexdigest()
    config = json.dumps({"model_format": "gguf", "model_family": "llama", "file_type": "Q8_0"}).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(model)
    (root / "blobs" / f"sha256-{config_digest}").write_bytes(config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": f"sha256:{config_digest}", "size": len(config)},
                "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
                            "size": len(model)},
                           {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64,
                            "size": 10}]}
    for tag in ("1b", "latest"):  # two tags of one blob: one registration
        path = root / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest))
    gone = root / "manifests" / "registry.ollama.ai" / "library" / "ghost" / "latest"
    gone.parent.mkdir(parents=True)
    gone.write_text(json.dumps({**manifest, "layers": [{**manifest["layers"][0], "digest": "sha256:" + "1" * 64}]}))
    return root, digest


def _hf_cache(cache: Path) -> Path:
    def put(repo: str, files: dict[str, bytes]) -> None:
        storage = cache / ("models--" + repo.replace("/", "--"))
        commit = hashlib.sha1(repo.encode()).hexdigest()
        (storage / "blobs").mkdir(parents=True)
        (storage / "refs").mkdir()
        (storage / "refs" / "main").write_text(commit)
        for name, data in files.items():
            blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            pointer = storage / "snapshots" / commit / name
            pointer.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, pointer.parent), pointer)

    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    put("TheBloke/TinyLlama-GGUF", {"tinyllama.Q5_K_M.gguf": tiny_gguf(file_type=17), "README.md": b"hi"})
    put("timm/mobilenetv3_small_100.lamb_in1k", {
        "model.safetensors": struct.pack("<Q", len(header)) + header + bytes(4),
        "config.json": json.dumps({"architecture": "mobilenetv3_small_100", "num_classes": 1000}).encode()})
    put("gpt2/tokenizer-only", {"tokenizer.json": b"{}"})
    return cache


def test_scan_registers_lmstudio_ollama_and_hf_cache_models_in_place(tmp_path: Path,
                                                                     manager: ModelManager) -> None:
    ollama, digest = _ollama(tmp_path / "ollama")
    roots = ScanRoots(lmstudio=(_lmstudio(tmp_path / "lmstudio"), tmp_path / "absent"), ollama=ollama,
                      hf_cache=_hf_cache(tmp_path / "hf"))
    report = manager.scan(roots)
    found = {r.id: r for r in report.added}
    assert set(found) == {"qwen2.5-0.5b-instruct-q4_k_m", "big-q8_0", "ollama-llama3.2-1b", "tinyllama.q5_k_m",
                          "model"}

    qwen = found["qwen2.5-0.5b-instruct-q4_k_m"]
    assert (qwen.source, qwen.repo, qwen.quant) == ("lmstudio", "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF",
                                                   "Q4_K_M")
    assert qwen.path == str(tmp_path / "lmstudio" / "lmstudio-community" / "Qwen2.5-0.5B-Instruct-GGUF" /
                            "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    big = found["big-q8_0"]
    assert big.meta["parts"] == 2 and big.size_bytes == len(tiny_gguf(file_type=7)) + len(b"second part")

    llama = found["ollama-llama3.2-1b"]
    assert (llama.source, llama.repo, llama.quant, llama.sha256) == ("ollama", "llama3.2:1b", "Q8_0", digest)
    assert llama.path == str(ollama / "blobs" / f"sha256-{digest}")

    tinyllama, timm = found["tinyllama.q5_k_m"], found["model"]
    assert (tinyllama.source, tinyllama.repo, tinyllama.quant) == ("hf-cache", "TheBloke/TinyLlama-GGUF", "Q5_K_M")
    assert tinyllama.filename == "tinyllama.Q5_K_M.gguf" and len(tinyllama.sha256 or "") == 64
    assert (timm.kind, timm.format, timm.repo) == ("vision", "safetensors", "timm/mobilenetv3_small_100.lamb_in1k")

    skipped = dict(report.skipped)
    assert any("broken-Q4_0.gguf" in path for path in skipped)
    assert any("ghost" in path and "missing" in reason for path, reason in skipped.items())
    assert not any("mmproj" in path for path in skipped)

    # Nothing was copied, and a second scan finds the same models without duplicating them.
    assert not manager.cache_dir.exists()
    again = manager.scan(roots)
    assert again.added == [] and {r.id for r in again.updated} == set(found)
    assert len(manager.registry.list(include_starters=False)) == 5


def test_import_a_file_and_a_folder_in_place(tmp_path: Path, manager: ModelManager) -> None:
    folder = tmp_path / "mine"
    (folder / "nested").mkdir(parents=True)
    (folder / "chat-Q6_K.gguf").write_bytes(tiny_gguf(file_type=18))
    (folder / "nested" / "network.bif").write_text('network "n" {\n}\nvariable a {\n}\n')
    (folder / "notes.txt").write_text("not a model")
    (folder / "random.bin").write_bytes(os.urandom(256))

    single = manager.import_path(folder / "chat-Q6_K.gguf", compute_sha256=True)
    record = single.added[0]
    assert (record.id, record.quant, record.source) == ("chat-q6_k", "Q6_K", "import")
    assert record.sha256 == hashlib.sha256((folder / "chat-Q6_K.gguf").read_bytes()).hexdigest()

    report = manager.import_path(folder)
    assert [r.id for r in report.added] == ["network"] and [r.id for r in report.updated] == ["chat-q6_k"]
    assert report.added[0].kind == "bayes" and report.added[0].format == "bif"

    removed = manager.remove("chat-q6_k")
    assert removed.freed_bytes == 0 and "stays on disk" in removed.note
    assert (folder / "chat-Q6_K.gguf").exists()  # an imported file is never deleted
    with pytest.raises(ModelError, match="only unregisters"):
        manager.remove("network", delete_files=True)


def test_import_errors_are_clear(tmp_path: Path, manager: ModelManager) -> None:
    with pytest.raises(ModelError) as error:
        manager.import_path(tmp_path / "nope.gguf")
    assert error.value.reason is Reason.NOT_FOUND
    text = tmp_path / "notes.dat"
    text.write_text("hello")
    with pytest.raises(ModelError) as error:
        manager.import_path(text)
    assert error.value.reason is Reason.UNSUPPORTED and "GGUF, ONNX, safetensors" in error.value.message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no model files"):
        manager.import_path(empty)
    part = tmp_path / "x-00002-of-00002.gguf"
    part.write_bytes(b"rest")
    with pytest.raises(ModelError, match="missing"):
        manager.import_path(part)
    with pytest.raises(ModelError, match="kind must be one of"):
        manager.import_path(text, kind="audio")


def test_folder_import_says_which_model_like_files_it_skipped(manager: ModelManager, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good-Q4_K_M.gguf").write_bytes(tiny_gguf())
    (folder / "fake-Q4_K_M.gguf").write_text("<html>not found</html>")  # a failed browser download
    (folder / "weights.safetensors").write_bytes(b"\x00" * 64)
    (folder / "notes.dat").write_text("nothing model-like")
    report = manager.import_path(folder)
    assert [r.id for r in report.added] == ["good-q4_k_m"]
    skipped = dict(report.skipped)
    assert set(skipped) == {str(folder / "fake-Q4_K_M.gguf"), str(folder / "weights.safetensors")}
    assert "named like a GGUF file but its content is not one" in skipped[str(folder / "fake-Q4_K_M.gguf")]
    assert "safetensors" in skipped[str(folder / "weights.safetensors")]
