"""Preprocessing as a model's own configuration states it (resize, crop, interpolation, mean/std).

The arithmetic follows timm's evaluation transform (``resize_size = floor(crop / crop_pct)``, shortest
edge resize, centre crop, ``(x/255 - mean) / std``). Bilinear and bicubic resizing use torch's antialiased
uint8 kernels (the same filters as Pillow's, within one grey level on under 1 % of pixels, 2-3x faster);
the other filters and padded crops use Pillow. All of it releases the GIL, so it runs in decode threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from engines.base import EngineError, ErrorKind

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


@dataclass(frozen=True)
class PreprocessConfig:
    """How an RGB image becomes the model's input tensor."""

    input_size: tuple[int, int] = (224, 224)  # height, width of the crop fed to the model
    resize_size: int = 256  # shortest edge after resizing (``squash``: both edges)
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "center"  # "center" or "squash"
    source: str = "default"  # where these numbers came from, shown to the user

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise EngineError(ErrorKind.BAD_INPUT, f"unknown interpolation {self.interpolation!r} "
                                                   f"(known: {', '.join(_INTERPOLATIONS)})")
        if self.crop_mode not in ("center", "squash"):
            raise EngineError(ErrorKind.UNSUPPORTED, f"crop mode {self.crop_mode!r} is not supported")
        if min(self.input_size) < 1 or self.resize_size < 1 or min(self.std) <= 0:
            raise EngineError(ErrorKind.BAD_INPUT, f"invalid preprocessing {self}")

    @property
    def crop_pct(self) -> float:
        """Crop edge over resized edge, timm's way of stating the resize."""
        return min(self.input_size) / self.resize_size

    def describe(self) -> dict[str, Any]:
        """The settings as plain data, for cards and reports."""
        out = asdict(self)
        out["input_size"] = list(self.input_size)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        out["crop_pct"] = round(self.crop_pct, 4)
        return out

    def summary(self) -> str:
        """One line for the terminal."""
        h, w = self.input_size
        mean = ", ".join(f"{v:.3f}" for v in self.mean)
        std = ", ".join(f"{v:.3f}" for v in self.std)
        resize = (f"squash to {self.resize_size}x{self.resize_size}" if self.crop_mode == "squash"
                  else f"shortest edge to {self.resize_size}")
        return (f"resize {resize} ({self.interpolation}), centre crop {h}x{w}, "
                f"normalise mean [{mean}] std [{std}] (from {self.source})")


def config_from_timm(cfg: Mapping[str, Any], source: str) -> PreprocessConfig:
    """Read timm's ``pretrained_cfg`` (input_size, crop_pct, crop_mode, interpolation, mean, std)."""
    size = cfg.get("input_size", (3, 224, 224))
    if not isinstance(size, Sequence) or len(size) != 3:
        raise EngineError(ErrorKind.BAD_INPUT, f"{source}: input_size {size!r} is not [channels, height, width]")
    channels, height, width = (int(v) for v in size)
    if channels != 3:
        raise EngineError(ErrorKind.UNSUPPORTED, f"{source}: models with {channels} input channels are not "
                                                 "supported (RGB only)")
    crop_pct = float(cfg.get("crop_pct") or 0.875)
    crop_mode = str(cfg.get("crop_mode") or "center")
    if crop_mode == "border":
        crop_mode = "center"  # border padding only differs for non-square inputs
    return PreprocessConfig(
        input_size=(height, width),
        resize_size=math.floor(min(height, width) / crop_pct),
        interpolation=str(cfg.get("interpolation") or "bilinear"),
        mean=_triple(cfg.get("mean", IMAGENET_MEAN), "mean", source),
        std=_triple(cfg.get("std", IMAGENET_STD), "std", source),
        crop_mode=crop_mode,
        source=source,
    )


def _triple(value: Any, name: str, source: str) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        return (float(value),) * 3  # type: ignore[return-value]
    if not isinstance(value, Sequence) or len(value) != 3:
        raise EngineError(ErrorKind.BAD_INPUT, f"{source}: {name} must be three numbers, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def crop_geometry(size: tuple[int, int], config: PreprocessConfig) -> tuple[int, int, int, int]:
    """Resized width and height, then the crop's top and left (negative: the crop is padded)."""
    w, h = size
    if config.crop_mode == "squash":
        new_w = new_h = config.resize_size
    elif w <= h:
        new_w, new_h = config.resize_size, int(config.resize_size * h / w)
    else:
        new_w, new_h = int(config.resize_size * w / h), config.resize_size
    height, width = config.input_size
    return new_w, new_h, round((new_h - height) / 2.0), round((new_w - width) / 2.0)


def resize_and_crop(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    """Resize then centre-crop, as torchvision's Resize(int) + CenterCrop do it.

    Only the kept region is resampled (Pillow's ``box``), 2-3x faster than resizing the whole image and
    equal to it up to one grey level on a few pixels.
    """
    height, width = config.input_size
    method = _INTERPOLATIONS[config.interpolation]
    w, h = image.size
    new_w, new_h, top, left = crop_geometry(image.size, config)
    if top >= 0 and left >= 0:
        sx, sy = w / new_w, h / new_h
        box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        return image.resize((width, height), method, box=box)
    # torchvision pads a crop larger than the image with zeros; do the same.
    image = image.resize((new_w, new_h), method)
    canvas = Image.new("RGB", (max(new_w, width), max(new_h, height)))
    canvas.paste(image, (max(0, -left), max(0, -top)))
    top, left = max(0, top), max(0, left)
    return canvas.crop((left, top, left + width, top + height))


@lru_cache(maxsize=8)
def _lookup_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    # (v / 255 - mean) / std in float32 for each of the 256 byte values: the same arithmetic as
    # torchvision's ToTensor + Normalize, bit for bit, at a table lookup per pixel.
    values = np.arange(256, dtype=np.float32) / np.float32(255)
    return tuple((values - np.float32(m)) / np.float32(s) for m, s in zip(mean, std, strict=True))


def normalise(planes: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Normalised float32 CHW array from uint8 CHW planes."""
    tables = _lookup_tables(config.mean, config.std)
    out = np.empty(planes.shape, dtype=np.float32)
    for channel in range(3):
        np.take(tables[channel], planes[channel], out=out[channel])
    return out


def to_array(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """Normalised float32 CHW array of an RGB image."""
    return normalise(np.asarray(image).transpose(2, 0, 1), config)


_TORCH_MODES = {"bilinear": "bilinear", "bicubic": "bicubic"}


def resize_and_crop_planes(image: Image.Image, config: PreprocessConfig) -> np.ndarray | None:
    """uint8 CHW planes resized and cropped by torch, or None where only Pillow can do it."""
    mode = _TORCH_MODES.get(config.interpolation)
    if mode is None:
        return None
    height, width = config.input_size
    new_w, new_h, top, left = crop_geometry(image.size, config)
    if top < 0 or left < 0:
        return None  # a crop larger than the image is padded: Pillow's path
    try:
        import torch
    except ImportError:
        return None
    # HWC memory seen as NCHW is the channels-last layout torch's vectorised uint8 kernels take.
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(pixels, size=(new_h, new_w), mode=mode, antialias=True)
    return np.asarray(resized[0, :, top:top + height, left:left + width].numpy())


def preprocess(image: Image.Image, config: PreprocessConfig) -> tuple[np.ndarray, float]:
    """The model input for one RGB image and the milliseconds it took."""
    start = time.perf_counter()
    planes = resize_and_crop_planes(image, config)
    array = to_array(resize_and_crop(image, config), config) if planes is None else normalise(planes, config)
    return array, (time.perf_counter() - start) * 1000
