"""Export a torch classifier to ONNX once per (model hash, opset, input size) and reuse the file after.

Derived graphs (fp16, int8) are cached the same way, keyed by the fp32 graph they came from.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.base import EngineError, ErrorKind

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def cache_dir() -> Path:
    """Where exported and derived ONNX graphs live (under the workbench's cache)."""
    from core import paths

    return paths.cache_dir("onnx")


def export_key(model_sha256: str, opset: int, input_size: tuple[int, int]) -> str:
    """The cache file stem of one export."""
    return f"{model_sha256[:20]}-opset{opset}-{input_size[0]}x{input_size[1]}"


def cached_export(module: Any, model_sha256: str, input_size: tuple[int, int], *, opset: int = OPSET,
                  metadata: dict[str, str] | None = None,
                  on_progress: Callable[[str], None] | None = None) -> tuple[Path, bool]:
    """The fp32 ONNX file of ``module`` and whether it came from the cache."""
    target = cache_dir() / f"{export_key(model_sha256, opset, input_size)}.onnx"
    if target.is_file() and _valid(target):
        return target, True
    if on_progress is not None:
        on_progress(f"exporting to ONNX (opset {opset}); later loads reuse it")
    partial = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.part")
    try:
        _export(module, partial, input_size, opset)
        _stamp(partial, {"workbench.source_sha256": model_sha256, "workbench.opset": str(opset),
                         **(metadata or {})})
        os.replace(partial, target)  # atomic: a crash never leaves a half-written cache entry
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return target, False


def _export(module: Any, path: Path, input_size: tuple[int, int], opset: int) -> None:
    import torch

    example = torch.zeros(2, 3, *input_size)
    legacy_error: Exception | None = None
    # The TorchScript exporter takes ~1.5 s where the dynamo exporter takes ~15 s for EfficientNet-Lite0;
    # the dynamo one remains the fallback for models the old one cannot trace.
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        return
    except Exception as exc:
        legacy_error = exc
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=max(opset, 18), dynamo=True,
                              dynamic_shapes=({0: batch},), external_data=False)
    except Exception as exc:
        raise EngineError(ErrorKind.UNSUPPORTED, f"this model cannot be exported to ONNX: {exc}",
                          detail=f"TorchScript exporter: {legacy_error}") from exc


def _stamp(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def _valid(path: Path) -> bool:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception:
        return False
    return True


def cached_fp16(fp32_path: Path) -> Path:
    """An fp16 copy of an fp32 graph (inputs and outputs stay float32), cached beside it."""
    target = fp32_path.with_name(f"{fp32_path.stem}-fp16.onnx")
    if target.is_file() and _valid(target):
        return target
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    partial = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.part")
    onnx.save(model, str(partial))
    os.replace(partial, target)
    return target


def preprocess_metadata(describe: dict[str, Any]) -> dict[str, str]:
    """Preprocessing as ONNX metadata, so an exported file carries it."""
    return {"workbench.preprocess": json.dumps(describe, sort_keys=True)}
