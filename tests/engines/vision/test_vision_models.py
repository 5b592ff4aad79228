"""Model files: timm safetensors folders, bare .pth state dicts, .onnx graphs, and files that lie."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vision_helpers import SAMPLES, RecordingContext

from engines.base import EngineError, ErrorKind
from engines.vision.engine import VisionEngine
from engines.vision.loader import load_model
from engines.vision.onnx_export import cached_export


class NotATensor:
    """Pickled into a checkpoint to prove it is never unpickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


def reference_logits(folder: Path, batch: np.ndarray) -> np.ndarray:
    """What timm itself computes with these weights."""
    import timm
    import torch
    from safetensors.torch import load_file

    model = timm.create_model("mobilenetv3_small_100", pretrained=False, num_classes=1000).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    with torch.inference_mode():
        return np.asarray(model(torch.from_numpy(batch)).numpy())


def test_timm_safetensors_folder_loads_with_its_own_preprocessing(timm_folder: Path) -> None:
    model = load_model(str(timm_folder))
    assert model.name == "mobilenetv3_small_100.lamb_in1k" and model.format == "safetensors"
    assert model.preprocess.interpolation == "bicubic"
    assert model.preprocess.resize_size == 235  # floor(224 / 0.95), timm's rule
    assert model.preprocess.source == "config.json"
    assert model.reference_top1 is not None and model.reference_top1[0] == pytest.approx(67.7)
    batch = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    import torch

    with torch.inference_mode():
        ours = model.module(torch.from_numpy(batch)).numpy()
    assert np.allclose(ours, reference_logits(timm_folder, batch), atol=1e-5)


def test_timm_model_runs_on_both_backends_through_the_engine(timm_folder: Path) -> None:
    engine = VisionEngine()
    ctx = RecordingContext()
    info = engine.load(str(timm_folder), "cpu", {"backend": "torch", "threads": 1}, ctx)
    try:
        assert info["backend"] == "torch" and info["preprocess"]["crop_pct"] == pytest.approx(0.9532, abs=1e-3)
        result = engine.run("agreement", {"combos": [["onnxruntime", "fp32"]]}, ctx)
        row = result["rows"][0]
        assert row["max_prob_diff"] < 1e-4 and row["top5_equal"] == 1.0
        classified = engine.run("classify", {"paths": [str(SAMPLES / "coffee.jpg")], "topk": 3}, ctx)
        assert classified["classified"] == 1 and len(ctx.partials[-1]["top"]) == 3
        card = engine.card()
        assert 2.0e6 < card["parameters"] < 3.0e6 and 4e7 < card["macs"] < 8e7  # ~2.5 M params, ~57 MMACs
    finally:
        engine.unload()


def test_bare_pth_state_dict_needs_and_uses_an_architecture(timm_folder: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    state = load_file(str(timm_folder / "model.safetensors"))
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    with pytest.raises(EngineError) as info:
        load_model(str(path))
    assert info.value.kind is ErrorKind.BAD_INPUT and "--arch" in info.value.message
    model = load_model(str(path), {"arch": "mobilenetv3_small_100"})
    assert model.format == "pth" and model.num_classes == 1000
    assert model.preprocess.source.startswith("timm defaults")


def _with_architecture(timm_folder: Path, folder: Path, architecture: str) -> Path:
    """A copy of the timm model folder whose config.json names another architecture."""
    shutil.copytree(timm_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = architecture
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_state_dict_that_does_not_fit_the_architecture(timm_folder: Path, tmp_path: Path) -> None:
    folder = _with_architecture(timm_folder, tmp_path / "lying", "resnet18")
    with pytest.raises(EngineError) as info:
        load_model(str(folder))
    message = info.value.message
    assert info.value.kind is ErrorKind.BAD_INPUT
    assert "do not fit architecture 'resnet18'" in message and "missing" in message and "unexpected" in message


def test_unknown_architecture_is_named(timm_folder: Path, tmp_path: Path) -> None:
    folder = _with_architecture(timm_folder, tmp_path / "typo", "mobilenetv3_smal_100")
    with pytest.raises(EngineError) as info:
        load_model(str(folder))
    assert "unknown architecture" in info.value.message and "mobilenetv3_small_100" in info.value.message


@pytest.mark.parametrize("name", ["model.safetensors", "weights.pth", "graph.onnx"])
def test_files_that_are_not_what_they_claim(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"GIF89a definitely not model weights" * 10)
    with pytest.raises(EngineError) as info:
        load_model(str(tmp_path / name), {"arch": "resnet18"})
    assert info.value.kind is ErrorKind.BAD_INPUT and name in info.value.message


def test_pickled_objects_are_never_unpickled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": NotATensor()}, path)
    with pytest.raises(EngineError) as info:
        load_model(str(path), {"arch": "resnet18"})
    assert "refusing" in info.value.message and "could run code" in info.value.message
    assert "this must never run" not in capsys.readouterr().out
    other = tmp_path / "archive.pth"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "a zip, not a checkpoint")
    with pytest.raises(EngineError) as zipped:
        load_model(str(other), {"arch": "resnet18"})
    assert zipped.value.kind is ErrorKind.BAD_INPUT


def test_onnx_file_with_sidecar_config(timm_folder: Path, tmp_path: Path) -> None:
    torch_model = load_model(str(timm_folder))
    exported, _ = cached_export(torch_model.module, torch_model.sha256, (224, 224))
    onnx_path = tmp_path / "mnv3.onnx"
    shutil.copy(exported, onnx_path)
    shutil.copy(timm_folder / "config.json", tmp_path / "mnv3.json")
    engine = VisionEngine()
    ctx = RecordingContext()
    try:
        info = engine.load(str(onnx_path), "cpu", {"backend": "auto", "threads": 1}, ctx)
        assert info["format"] == "onnx" and info["backend"] == "onnxruntime"
        assert info["preprocess"]["resize_size"] == 235
        with pytest.raises(EngineError) as torch_on_onnx:
            engine._runtime.get("torch", "fp32")
        assert torch_on_onnx.value.kind is ErrorKind.UNSUPPORTED
        engine.run("classify", {"paths": [str(SAMPLES / "chelsea.jpg")]}, ctx)
        onnx_top = ctx.partials[-1]["top"]
        card = engine.card()
        assert 2.0e6 < card["parameters"] < 3.0e6 and 4e7 < card["macs"] < 8e7
    finally:
        engine.unload()
    torch_engine = VisionEngine()
    try:
        torch_engine.load(str(timm_folder), "cpu", {"backend": "torch", "threads": 1}, ctx)
        torch_engine.run("classify", {"paths": [str(SAMPLES / "chelsea.jpg")]}, ctx)
        torch_top = ctx.partials[-1]["top"]
    finally:
        torch_engine.unload()
    assert [t["index"] for t in onnx_top] == [t["index"] for t in torch_top]
    assert max(abs(a["prob"] - b["prob"]) for a, b in zip(onnx_top, torch_top, strict=True)) < 1e-4


def test_onnx_export_is_cached_and_a_broken_cache_entry_is_redone(timm_folder: Path) -> None:
    model = load_model(str(timm_folder))
    first, _ = cached_export(model.module, model.sha256, (224, 224))
    again, cached = cached_export(model.module, model.sha256, (224, 224))
    assert again == first and cached
    assert cached_export(model.module, model.sha256, (224, 224), opset=18)[0] != first  # keyed by opset
    first.write_bytes(b"half a file")
    redone, cached = cached_export(model.module, model.sha256, (224, 224))
    assert redone == first and not cached and redone.stat().st_size > 1_000_000
