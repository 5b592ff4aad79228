"""Decode one image file into 8-bit RGB, refusing what cannot or should not be decoded, with clear words.

Handles grayscale, palette, CMYK, alpha (flattened on white), 16-bit and float images, EXIF rotation and
multi-frame files (first frame). Refuses files that are not images, truncated or corrupt files and images
larger than a pixel limit before their pixels are allocated.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from engines.base import EngineError, ErrorKind

# 100 MP of RGB is 300 MB; larger images are refused rather than risking the worker's memory.
DEFAULT_MAX_PIXELS = 100_000_000

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff",
                            ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico"})

# We apply our own pixel limit, so Pillow's bomb warning is noise (silenced around Image.open); its hard
# error still fires above twice its limit and is translated into our message.


@dataclass
class DecodedImage:
    """An RGB image ready for preprocessing, with what was done to get it."""

    image: Image.Image
    width: int  # as stored in the file
    height: int
    mode: str  # Pillow mode in the file: RGB, L, CMYK, RGBA, I;16, ...
    format: str
    decode_ms: float
    notes: list[str] = field(default_factory=list)


def bad(path: Path | str, words: str) -> EngineError:
    """A bad-input error that names the file."""
    return EngineError(ErrorKind.BAD_INPUT, f"{Path(path).name}: {words}")


def decode_image(path: str | Path, *, draft_size: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Open ``path`` as 8-bit RGB; ``draft_size`` lets JPEG decode at a reduced scale not below that edge."""
    start = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise EngineError(ErrorKind.NOT_FOUND, f"{path}: no such file")
    if path.is_dir():
        raise bad(path, "is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise bad(path, f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise bad(path, "not an image (no image format recognised it)") from exc
    except OSError as exc:
        raise bad(path, f"cannot read image: {exc}") from exc
    with opened:
        width, height = opened.size
        if width * height > max_pixels:
            raise bad(path, f"image is {width}x{height} ({width * height / 1e6:.0f} MP); the limit is "
                            f"{max_pixels / 1e6:.0f} MP")
        if width == 0 or height == 0:
            raise bad(path, "image has no pixels")
        notes: list[str] = []
        mode, fmt = opened.mode, opened.format or "?"
        frames = int(getattr(opened, "n_frames", 1))
        if frames > 1:
            notes.append(f"{frames} frames: the first is classified")
        if draft_size and fmt == "JPEG" and mode in ("RGB", "L", "CMYK", "YCbCr"):
            # DCT-domain downscaling: decodes at 1/2, 1/4 or 1/8 size while both edges stay >= draft_size.
            opened.draft(opened.mode, (draft_size, draft_size))
        try:
            opened.load()
            image = _to_rgb(opened, notes)
            image = _apply_exif_rotation(image, opened, notes)
        except (OSError, SyntaxError, ValueError) as exc:
            raise bad(path, f"truncated or corrupt image ({exc})") from exc
    return DecodedImage(image, width, height, mode, fmt, (time.perf_counter() - start) * 1000, notes)


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image, notes)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparency flattened on white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append("converted from CMYK")
    elif mode in ("L", "1"):
        notes.append("grayscale copied to three channels")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and float(values.min()) >= 0.0 and top <= 1.0:
        scaled = values * 255.0
        notes.append("float image in [0, 1] scaled to 8 bits")
    elif top <= 255.0:
        scaled = values
    elif top <= 65535.0:
        scaled = values / 257.0
        notes.append("16-bit image scaled to 8 bits")
    else:
        low = float(values.min())
        scaled = (values - low) * (255.0 / (top - low))
        notes.append("high dynamic range stretched to 8 bits")
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _apply_exif_rotation(image: Image.Image, source: Image.Image, notes: list[str]) -> Image.Image:
    try:
        orientation = source.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not lose the image
        return image
    if orientation in (None, 1):
        return image
    notes.append(f"rotated by EXIF orientation {orientation}")
    return _transpose(image, orientation)


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return image if method is None else image.transpose(method)
