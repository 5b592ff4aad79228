"""Helpers for the vision tests (a recording RunContext, crafted files); a unique name avoids clashes."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import RunCancelled

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "images"


class RecordingContext:
    """A RunContext that keeps everything the engine reports, and can cancel after N partials."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.partials: list[dict[str, Any]] = []
        self.progress_calls: list[tuple[float, float | None, str]] = []
        self.samples: list[tuple[str, float, float]] = []
        self.cancel_after = cancel_after

    @property
    def request_id(self) -> str:
        return "test"

    def cancel_requested(self) -> bool:
        return self.cancel_after is not None and len(self.partials) >= self.cancel_after

    def check_cancelled(self) -> None:
        if self.cancel_requested():
            raise RunCancelled()

    def partial(self, data: Mapping[str, Any]) -> None:
        self.partials.append(dict(data))

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        self.progress_calls.append((done, total, message))

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        self.samples.append((series, value, time.perf_counter() if t is None else t))


@contextmanager
def loaded_engine(model: str, device: str, options: Mapping[str, Any]) -> Iterator[Any]:
    """A VisionEngine with ``model`` loaded on ``device``; unloaded on leaving."""
    from engines.vision.engine import VisionEngine

    engine = VisionEngine()
    engine.load(model, device, dict(options), RecordingContext())
    try:
        yield engine
    finally:
        engine.unload()


def digits_reference_logits(digits: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """(targets, logits) of the digits test set from onnxruntime on arrays made here, not by the engine."""
    import onnxruntime as ort

    from engines.vision.decode import decode_image
    from engines.vision.preprocess import config_from_timm, preprocess

    config = config_from_timm(json.loads(digits["onnx"].with_suffix(".json").read_text())["pretrained_cfg"], "t")
    paths = sorted(digits["test"].rglob("*.png"))
    targets = np.array([int(p.parent.name) for p in paths])
    batch = np.stack([preprocess(decode_image(p).image, config)[0] for p in paths])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(digits["onnx"]), options, providers=["CPUExecutionProvider"])
    return targets, session.run(None, {"input": batch})[0]


def png_with_size(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (the pixel data is tiny): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
