"""What a model file is, told from its content (magic bytes, headers), not only from its name."""

from __future__ import annotations

import gzip
import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from app.models.errors import ModelError, Reason
from app.models.quant import parse_quant

# ONNX ModelProto top-level fields (onnx.proto): ir_version 1, producer_name 2, producer_version 3, domain 4,
# model_version 5, doc_string 6, graph 7, opset_import 8, metadata_props 14, training_info 20,
# functions 25, configuration 26.
_ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_TEXT_HEAD = 8192
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class Detected:
    """A recognized model file: its kind (llm / vision / bayes / other), format and what the header says."""

    kind: str
    format: str
    quant: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def detect_file(path: Path) -> Detected | None:
    """Recognize ``path`` by content; None for files that are not models (README, tokenizer, ...).

    A file that claims to be a model but is damaged (a truncated GGUF) raises :class:`ModelError`.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
            size = path.stat().st_size
            if head[:4] == b"GGUF":
                return _gguf(path)
            if _is_safetensors(handle, head, size):
                return _safetensors(path)
            if head[:4] == b"PK\x03\x04":
                return _torch_zip(path)
            if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and \
                    path.suffix.lower() in (".pt", ".pth", ".bin", ".ckpt"):
                return Detected("vision", "pth", meta={"serialization": "legacy pickle"})
            if head[:1] == b"\x08" and _is_onnx(handle, size):
                return Detected("vision", "onnx")
            if head[:2] == b"\x1f\x8b":
                found = _bayes_text(_gunzip_head(path))
                return Detected("bayes", found, meta={"compressed": "gzip"}) if found else None
            handle.seek(0)
            found = _bayes_text(handle.read(_TEXT_HEAD).decode("utf-8", errors="replace"))
            return Detected("bayes", found) if found else None
    except OSError as exc:
        raise ModelError(Reason.BAD_INPUT, f"cannot read {path}: {exc.strerror or exc}") from exc


def _gguf(path: Path) -> Detected:
    from core.gguf import GGUFError, read_gguf

    try:
        info = read_gguf(path)
    except GGUFError as exc:
        raise ModelError(Reason.BAD_INPUT, exc.message) from exc
    summary = info.summary()
    quant = info.quantization if info.quantization != "unknown" else parse_quant(path.name)
    meta = {key: summary[key] for key in ("name", "architecture", "parameters", "context_length", "n_layer",
                                          "n_embd", "n_head", "n_head_kv", "has_chat_template")}
    return Detected("llm", "gguf", quant, meta)


def _is_safetensors(handle: BinaryIO, head: bytes, size: int) -> bool:
    # 8-byte little-endian header length, then a JSON object describing the tensors.
    if len(head) < 10 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if length < 2 or length > _MAX_SAFETENSORS_HEADER or 8 + length > size:
        return False
    handle.seek(8)
    try:
        header = json.loads(handle.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(header, dict)


def _safetensors(path: Path) -> Detected:
    config = read_json(path.parent / "config.json")
    meta: dict[str, Any] = {}
    kind = "other"
    if isinstance(config, dict):
        architectures = config.get("architectures") or []
        if "architecture" in config or "pretrained_cfg" in config:  # timm's config.json
            kind = "vision"
            meta["architecture"] = config.get("architecture")
            meta["num_classes"] = config.get("num_classes")
        elif any(str(a).endswith("ImageClassification") for a in architectures):
            kind, meta["architecture"] = "vision", architectures[0]
        elif any(str(a).endswith(("CausalLM", "LMHeadModel")) for a in architectures):
            kind, meta["architecture"] = "llm", architectures[0]
    return Detected(kind, "safetensors", meta={k: v for k, v in meta.items() if v is not None})


def _torch_zip(path: Path) -> Detected | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return None
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return Detected("vision", "pth", meta={"serialization": "torch zip"})
    return None


def _read_varint(handle: BinaryIO) -> int | None:
    result = shift = 0
    for _ in range(10):
        byte = handle.read(1)
        if not byte:
            return None
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
    return None


def _is_onnx(handle: BinaryIO, size: int) -> bool:
    # Walk the top-level protobuf fields, jumping over their payloads: cheap even for a 2 GB model.
    handle.seek(0)
    seen: set[int] = set()
    while handle.tell() < size:
        key = _read_varint(handle)
        if key is None:
            return False
        number, wire = key >> 3, key & 7
        if _ONNX_FIELDS.get(number) != wire:
            return False
        seen.add(number)
        value = _read_varint(handle)
        if value is None:
            return False
        if wire == 2:
            if handle.tell() + value > size:
                return False
            handle.seek(value, 1)
    return {1, 7} <= seen


def _gunzip_head(path: Path) -> str:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(_TEXT_HEAD).decode("utf-8", errors="replace")
    except (OSError, EOFError):
        return ""


_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def _bayes_text(text: str) -> str | None:
    if "\x00" in text:
        return None
    lower = text.lower()
    if "<smile" in lower:
        return "xdsl"
    if ("<bif" in lower or "<network>" in lower) and "<variable" in lower:
        return "xmlbif"
    stripped = _COMMENTS.sub("", text)
    if re.match(r"\s*network\s+(\"[^\"]*\"|[^\s{]+)\s*\{", stripped):
        return "bif"
    without_percent = re.sub(r"%[^\n]*", "", stripped)
    if re.match(r"\s*(class\s+\w+\s*)?net\s*\{", without_percent):
        return "net"
    if re.match(r"\s*bnet\s+\w+\s*\{", stripped):
        return "dne"
    if re.match(r"\s*belief\s+network\b", stripped):
        return "dsc"
    if re.match(r"\s*(BAYES|MARKOV)\s*\n", text):
        return "uai"
    return None


def read_json(path: Path) -> Any:
    """The parsed JSON file, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
