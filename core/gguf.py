"""Read and validate GGUF metadata in pure Python, without loading weights (and without llama_cpp).

Used by the model list and the memory-fit estimate in the app process, and by the worker to refuse a bad
file with a clear message before llama.cpp sees it. The file is memory-mapped and only its header is
parsed; long arrays (the tokenizer vocabulary) are skipped, keeping their length.
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import EngineError, ErrorKind

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
# Arrays up to this length are kept in the metadata; longer ones become a GGUFArray summary.
_KEEP_ARRAY_ITEMS = 64

# GGUF metadata value types -> struct format (strings and arrays are handled separately).
_SCALAR_FORMATS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_TYPE_STRING = 8
_TYPE_ARRAY = 9

# ggml tensor types: id -> (name, elements per block, bytes per block). From ggml's type traits.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}

# llama.cpp's `general.file_type` (enum llama_ftype) -> the quantization name users know.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# First bytes of files people mistake for GGUF, to say what the file is instead.
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"lmgg", "an old GGML model (convert it to GGUF with llama.cpp's convert scripts)"),
    (b"fmgg", "an old GGMF model (convert it to GGUF)"),
    (b"tjgg", "an old GGJT model (convert it to GGUF)"),
    (b"PK\x03\x04", "a zip archive (a PyTorch checkpoint?)"),
    (b"\x80\x02", "a Python pickle (a PyTorch checkpoint?)"),
    (b"\x08", "an ONNX/protobuf file"),
    (b"<", "an HTML or XML page (a failed download?)"),
    (b"{", "a JSON file"),
)


class GGUFError(EngineError):
    """The file is not a readable GGUF; the message says why in words a user can act on."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.BAD_INPUT) -> None:
        super().__init__(kind, message)


@dataclass(frozen=True, slots=True)
class GGUFArray:
    """A long metadata array, summarized: its element type name and its length."""

    item_type: str
    length: int


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor's header entry: name, shape (ggml order), type and offset in the data section."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int

    @property
    def type_name(self) -> str:
        """The ggml type name (``Q4_K``, ``F16``, ...)."""
        return GGML_TYPES[self.type_id][0]

    @property
    def n_elements(self) -> int:
        """Number of weights in the tensor."""
        return math.prod(self.shape)

    @property
    def n_bytes(self) -> int:
        """Bytes the tensor takes in the file."""
        _, block, size = GGML_TYPES[self.type_id]
        return self.n_elements // block * size


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF header says about a model."""

    path: Path
    version: int
    file_size: int
    metadata: Mapping[str, Any]
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    data_offset: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value by its full key."""
        return self.metadata.get(key, default)

    def arch_value(self, suffix: str, default: Any = None) -> Any:
        """A value under the architecture prefix, e.g. ``arch_value("context_length")``."""
        return self.metadata.get(f"{self.architecture}.{suffix}", default)

    @property
    def architecture(self) -> str:
        """``general.architecture`` (``llama``, ``gemma3``, ...)."""
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        """The model's name from the metadata, or the file name."""
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def parameter_count(self) -> int:
        """Number of weights, summed over all tensors."""
        return sum(t.n_elements for t in self.tensors)

    @property
    def quantization(self) -> str:
        """The file type (``Q4_K_M``...) from the metadata, else the dominant tensor type."""
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int) and file_type in FILE_TYPES:
            return FILE_TYPES[file_type]
        by_type: dict[str, int] = {}
        for tensor in self.tensors:
            if len(tensor.shape) >= 2:
                by_type[tensor.type_name] = by_type.get(tensor.type_name, 0) + tensor.n_bytes
        return max(by_type, key=lambda name: by_type[name]) if by_type else "unknown"

    @property
    def context_length(self) -> int | None:
        """The context the model was trained for."""
        return _as_int(self.arch_value("context_length"))

    @property
    def chat_template(self) -> str | None:
        """The Jinja chat template shipped in the file, if any."""
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template.strip() else None

    @property
    def n_layer(self) -> int | None:
        """Number of transformer blocks."""
        return _as_int(self.arch_value("block_count"))

    @property
    def n_embd(self) -> int | None:
        """Embedding (hidden) size."""
        return _as_int(self.arch_value("embedding_length"))

    @property
    def n_head(self) -> int | None:
        """Attention heads (the largest, when it varies by layer)."""
        return _as_int(self.arch_value("attention.head_count"))

    @property
    def n_head_kv(self) -> int | None:
        """Key/value heads (GQA), the largest when it varies by layer."""
        return _as_int(self.arch_value("attention.head_count_kv"))

    @property
    def head_dim(self) -> int | None:
        """Size of one attention head's keys."""
        return _as_int(self.arch_value("attention.key_length"))

    @property
    def vocab_size(self) -> int | None:
        """Tokens in the vocabulary."""
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(tokens, GGUFArray):
            return tokens.length
        if isinstance(tokens, list):
            return len(tokens)
        return None

    @property
    def weights_bytes(self) -> int:
        """Bytes of tensor data in this file."""
        return sum(t.n_bytes for t in self.tensors)

    def summary(self) -> dict[str, Any]:
        """The facts shown in model lists and stored with runs, as plain JSON-able data."""
        return {
            "path": str(self.path),
            "name": self.name,
            "architecture": self.architecture,
            "parameters": self.parameter_count,
            "quantization": self.quantization,
            "context_length": self.context_length,
            "file_size": self.file_size,
            "gguf_version": self.version,
            "tensors": len(self.tensors),
            "n_layer": self.n_layer,
            "n_embd": self.n_embd,
            "n_head": self.n_head,
            "n_head_kv": self.n_head_kv,
            "vocab_size": self.vocab_size,
            "has_chat_template": self.chat_template is not None,
        }


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return max(value)
    return None


class _Cursor:
    """Reads little-endian GGUF fields from a buffer, turning a read past the end into a clear error."""

    def __init__(self, buffer: mmap.mmap | bytes, path: Path) -> None:
        self.buffer = buffer
        self.size = len(buffer)
        self.pos = 0
        self.path = path

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(
                f"{self.path.name} is truncated or corrupt: reading {what} at byte {self.pos} needs "
                f"{n} bytes but the file has {self.size} bytes"
            )

    def unpack(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        self._need(size, what)
        (value,) = struct.unpack_from(fmt, self.buffer, self.pos)
        self.pos += size
        return value

    def string(self, what: str) -> str:
        length = self.unpack("<Q", what)
        self._need(length, what)
        raw = self.buffer[self.pos : self.pos + length]
        self.pos += length
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{self.path.name} is corrupt: {what} is not valid UTF-8") from None

    def skip_strings(self, count: int, what: str) -> None:
        # The vocabulary can hold 250k strings: only read each length and jump over the text.
        buffer, pos, size = self.buffer, self.pos, self.size
        unpack_from = struct.unpack_from
        for _ in range(count):
            if pos + 8 > size:
                self.pos = pos
                self._need(8, what)
            (length,) = unpack_from("<Q", buffer, pos)
            pos += 8 + length
        self.pos = pos
        if pos > size:
            self.pos = size
            self._need(1, what)


def _read_value(cursor: _Cursor, value_type: int, key: str) -> Any:
    if value_type in _SCALAR_FORMATS:
        return cursor.unpack(_SCALAR_FORMATS[value_type], f"the value of {key!r}")
    if value_type == _TYPE_STRING:
        return cursor.string(f"the value of {key!r}")
    if value_type == _TYPE_ARRAY:
        item_type = cursor.unpack("<I", f"the array type of {key!r}")
        length = cursor.unpack("<Q", f"the array length of {key!r}")
        if item_type == _TYPE_ARRAY:
            raise GGUFError(f"{cursor.path.name} uses nested arrays in {key!r}, which GGUF does not allow")
        if item_type != _TYPE_STRING and item_type not in _SCALAR_FORMATS:
            raise GGUFError(f"{cursor.path.name} is corrupt: {key!r} has unknown array type {item_type}")
        if length <= _KEEP_ARRAY_ITEMS:
            return [_read_value(cursor, item_type, key) for _ in range(length)]
        if item_type == _TYPE_STRING:
            cursor.skip_strings(length, f"the strings of {key!r}")
        else:
            item_size = struct.calcsize(_SCALAR_FORMATS[item_type])
            cursor._need(length * item_size, f"the array {key!r}")
            cursor.pos += length * item_size
        return GGUFArray(_TYPE_NAMES.get(item_type, str(item_type)), length)
    raise GGUFError(f"{cursor.path.name} is corrupt: {key!r} has unknown value type {value_type}")


_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32",
               7: "bool", 8: "string", 10: "uint64", 11: "int64", 12: "float64"}


def _describe_other_format(head: bytes) -> str:
    for prefix, description in _OTHER_FORMATS:
        if head.startswith(prefix):
            return description
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors file (convert it to GGUF with llama.cpp's convert_hf_to_gguf.py)"
    return f"a file starting with bytes {head[:8].hex(' ')}"


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse and validate the GGUF header of ``path``; raise :class:`GGUFError` saying why it is bad."""
    path = Path(path)
    if not path.exists():
        raise GGUFError(f"no such file: {path}", ErrorKind.NOT_FOUND)
    if not path.is_file():
        raise GGUFError(f"{path} is a folder, not a GGUF file")
    file_size = path.stat().st_size
    if file_size < 24:
        raise GGUFError(f"{path.name} is not a GGUF model: it is only {file_size} bytes long")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        return _parse(buffer, path, file_size)


def _parse(buffer: mmap.mmap, path: Path, file_size: int) -> GGUFInfo:
    head = bytes(buffer[:16])
    if head[:4] != MAGIC:
        raise GGUFError(f"{path.name} is not a GGUF model: it looks like {_describe_other_format(head)}")
    cursor = _Cursor(buffer, path)
    cursor.pos = 4
    version = cursor.unpack("<I", "the version")
    if version not in SUPPORTED_VERSIONS:
        if struct.unpack(">I", struct.pack("<I", version))[0] in SUPPORTED_VERSIONS:
            raise GGUFError(f"{path.name} is a big-endian GGUF, which llama.cpp cannot load on this machine",
                            ErrorKind.UNSUPPORTED)
        if version == 1:
            raise GGUFError(f"{path.name} uses GGUF version 1, which llama.cpp no longer reads; "
                            "re-convert it with a current llama.cpp", ErrorKind.UNSUPPORTED)
        raise GGUFError(f"{path.name} is corrupt or too new: GGUF version {version} (known: 2 and 3)")
    tensor_count = cursor.unpack("<Q", "the tensor count")
    kv_count = cursor.unpack("<Q", "the metadata count")
    # Each entry needs at least a few bytes: counts beyond that are garbage, not a huge model.
    if kv_count * 13 > file_size or tensor_count * 24 > file_size:
        raise GGUFError(f"{path.name} is truncated or corrupt: its header claims {tensor_count} tensors and {kv_count} "
                        f"metadata entries, more than a {file_size}-byte file can hold")

    metadata: dict[str, Any] = {}
    for index in range(kv_count):
        key = cursor.string(f"metadata key #{index}")
        if not key:
            raise GGUFError(f"{path.name} is corrupt: metadata key #{index} is empty")
        if key in metadata:
            raise GGUFError(f"{path.name} is corrupt: metadata key {key!r} appears twice")
        value_type = cursor.unpack("<I", f"the type of {key!r}")
        metadata[key] = _read_value(cursor, value_type, key)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path.name} is corrupt: alignment {alignment!r} is not a power of two")

    tensors = [_read_tensor_info(cursor, index) for index in range(tensor_count)]
    data_offset = -(-cursor.pos // alignment) * alignment
    _check_tensor_layout(tensors, path, alignment, data_offset, file_size)
    if "general.architecture" not in metadata:
        raise GGUFError(f"{path.name} has no 'general.architecture' entry: not a model llama.cpp can run")
    return GGUFInfo(path, version, file_size, metadata, tuple(tensors), data_offset)


def _read_tensor_info(cursor: _Cursor, index: int) -> TensorInfo:
    name = cursor.string(f"the name of tensor #{index}")
    n_dims = cursor.unpack("<I", f"the dimensions of tensor {name!r}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFError(f"{cursor.path.name} is corrupt: tensor {name!r} has {n_dims} dimensions")
    shape = tuple(cursor.unpack("<Q", f"the shape of tensor {name!r}") for _ in range(n_dims))
    if any(dim >= 2**62 for dim in shape) or math.prod(shape) >= 2**62:
        raise GGUFError(f"{cursor.path.name} is corrupt: tensor {name!r} has shape {shape}")
    type_id = cursor.unpack("<I", f"the type of tensor {name!r}")
    if type_id not in GGML_TYPES:
        raise GGUFError(f"{cursor.path.name} uses tensor type {type_id} (tensor {name!r}), unknown to this "
                        "version; it may need a newer llama.cpp", ErrorKind.UNSUPPORTED)
    block = GGML_TYPES[type_id][1]
    if shape[0] % block:
        raise GGUFError(f"{cursor.path.name} is corrupt: tensor {name!r} row size {shape[0]} is not a "
                        f"multiple of the {GGML_TYPES[type_id][0]} block size {block}")
    offset = cursor.unpack("<Q", f"the offset of tensor {name!r}")
    return TensorInfo(name, shape, type_id, offset)


def _check_tensor_layout(
    tensors: list[TensorInfo], path: Path, alignment: int, data_offset: int, file_size: int,
) -> None:
    seen: set[str] = set()
    expected = 0
    for tensor in tensors:
        if tensor.name in seen:
            raise GGUFError(f"{path.name} is corrupt: tensor {tensor.name!r} appears twice")
        seen.add(tensor.name)
        if tensor.offset != expected:
            raise GGUFError(f"{path.name} is corrupt: tensor {tensor.name!r} starts at data offset "
                            f"{tensor.offset}, expected {expected}")
        expected += -(-tensor.n_bytes // alignment) * alignment
    if tensors:
        last = tensors[-1]
        needed = data_offset + last.offset + last.n_bytes
        if needed > file_size:
            raise GGUFError(
                f"{path.name} is truncated: its tensors need {needed:,} bytes but the file has "
                f"{file_size:,} bytes ({needed - file_size:,} missing; an interrupted download?)"
            )
