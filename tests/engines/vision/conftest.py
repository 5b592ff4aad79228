"""Shared, expensive things for the vision tests: a loaded EfficientNet-Lite0, test images, small models."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from vision_helpers import SAMPLES, RecordingContext, loaded_engine, png_with_size

from app.model_refs import resolve_model_ref


@pytest.fixture
def ctx() -> RecordingContext:
    """A fresh recording context."""
    return RecordingContext()


@pytest.fixture(scope="session")
def lite_engine() -> Iterator[Any]:
    """EfficientNet-Lite0 on ONNX Runtime, CPU, one thread (loaded once for the whole session)."""
    lite0 = str(resolve_model_ref("efficientnet-lite0", "vision"))
    with loaded_engine(lite0, "cpu", {"backend": "onnxruntime", "threads": 1}) as engine:
        yield engine


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder (with a sub-folder) of good photos in awkward modes and files that must fail one by one."""
    root = tmp_path_factory.mktemp("mixed")
    nested = root / "nested" / "deeper"
    nested.mkdir(parents=True)
    cat = Image.open(SAMPLES / "chelsea.jpg").convert("RGB")
    coffee = Image.open(SAMPLES / "coffee.jpg").convert("RGB")
    coffee.save(root / "a_coffee.jpg", quality=90)
    cat.convert("L").save(root / "b_gray.png")
    cat.convert("CMYK").save(root / "c_cmyk.jpg", quality=90)
    rgba = coffee.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(root / "d_rgba.png")
    gray16 = (np.asarray(cat.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(root / "e_gray16.png")
    cat.convert("P").save(nested / "f_palette.gif")
    (root / "g_not_an_image.jpg").write_text("this is text, not a JPEG\n")
    full = (SAMPLES / "coffee.jpg").read_bytes()
    (root / "h_truncated.jpg").write_bytes(full[: len(full) // 3])
    png_with_size(root / "i_huge.png", 20000, 20000)
    png_with_size(root / "j_large.png", 12000, 10000)
    (root / "k_empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not an image, and not named like one: skipped")
    return root


@pytest.fixture(scope="session")
def timm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised timm mobilenetv3_small_100 saved the way the Hub stores it."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("mobilenetv3_small_100", pretrained=False, num_classes=1000).eval()
    folder = tmp_path_factory.mktemp("timm") / "mobilenetv3_small_100.lamb_in1k"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    config = {"architecture": "mobilenetv3_small_100", "num_classes": 1000, "num_features": 1024,
              "pretrained_cfg": {"tag": "lamb_in1k", "input_size": [3, 224, 224], "interpolation": "bicubic",
                                 "crop_pct": 0.95, "crop_mode": "center", "mean": [0.485, 0.456, 0.406],
                                 "std": [0.229, 0.224, 0.225], "num_classes": 1000, "classifier": "classifier"}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


DIGIT_SIZE = 16  # load_digits' 8x8 images are saved at 16x16 so resizing is part of the path


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scikit-learn's digits as train/test ImageFolders and a small CNN trained on them for a few seconds.

    The model is exported to ONNX with a timm-style config.json (labels, preprocessing) beside it.
    """
    import torch
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    data = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.images))
    split = int(0.75 * len(order))
    for part, indices in (("train", order[:split]), ("test", order[split:])):
        for index in indices:
            folder = root / part / str(int(data.target[index]))
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (data.images[index] * (255.0 / 16.0)).round().astype(np.uint8)
            Image.fromarray(pixels).resize((DIGIT_SIZE, DIGIT_SIZE), Image.Resampling.NEAREST).save(
                folder / f"{index:04d}.png")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * (DIGIT_SIZE // 4) ** 2, 10),
    )
    # Same arithmetic as the engine's preprocessing (mean 0.5, std 0.5 on 0..1 grey copied to RGB).
    images = np.stack([np.asarray(Image.fromarray((data.images[i] * (255.0 / 16.0)).round().astype(np.uint8))
                                  .resize((DIGIT_SIZE, DIGIT_SIZE), Image.Resampling.NEAREST), dtype=np.float32)
                       for i in order[:split]])
    inputs = torch.from_numpy(np.repeat(((images / 255.0 - 0.5) / 0.5)[:, None], 3, axis=1))
    targets = torch.from_numpy(data.target[order[:split]].astype(np.int64))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    started = time.perf_counter()
    epochs = 0
    # At least four epochs (about 92% held-out accuracy), more while the few-second budget lasts.
    while epochs < 4 or (epochs < 10 and time.perf_counter() - started < 5.0):
        for batch in torch.randperm(len(inputs)).split(64):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
        epochs += 1
    net.eval()
    model_dir = root / "model"
    model_dir.mkdir()
    onnx_path = model_dir / "digits_cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is the fast one
        torch.onnx.export(net, (torch.zeros(1, 3, DIGIT_SIZE, DIGIT_SIZE),), str(onnx_path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    config = {"architecture": "digits_cnn", "num_classes": 10, "label_names": [str(i) for i in range(10)],
              "pretrained_cfg": {"input_size": [3, DIGIT_SIZE, DIGIT_SIZE], "crop_pct": 1.0,
                                 "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}}
    (model_dir / "digits_cnn.json").write_text(json.dumps(config))
    return {"root": root, "train": root / "train", "test": root / "test", "onnx": onnx_path}


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for a CLI subprocess: the session's isolated home, passive OpenMP."""
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env
