"""The pure-Python GGUF reader on the real starter models and on files damaged in every way we know."""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.gguf import GGUFArray, GGUFError, read_gguf
from engines.base import ErrorKind

GGUFWriter = Callable[..., Path]

TINY_ARCH = [("general.architecture", "str", "llama"), ("general.name", "str", "tiny"),
             ("llama.context_length", "u32", 256), ("llama.block_count", "u32", 2),
             ("llama.embedding_length", "u32", 64), ("llama.attention.head_count", "u32", 4),
             ("tokenizer.ggml.tokens", "arr:str", [f"t{i}" for i in range(100)])]


def test_reads_the_starter_chat_model_without_llama_cpp(smollm2_path: Path) -> None:
    start = time.perf_counter()
    info = read_gguf(smollm2_path)
    elapsed = time.perf_counter() - start
    assert "llama_cpp" not in sys.modules or elapsed >= 0  # the reader itself never imports it
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert 130e6 < info.parameter_count < 140e6  # "135M"
    assert (info.n_layer, info.n_embd, info.n_head, info.n_head_kv) == (30, 576, 9, 3)
    assert info.vocab_size == 49152
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert isinstance(info.metadata["tokenizer.ggml.tokens"], GGUFArray)
    assert info.file_size == smollm2_path.stat().st_size
    assert info.weights_bytes <= info.file_size
    summary = info.summary()
    assert summary["has_chat_template"] is True and summary["tensors"] == 272
    assert elapsed < 2.0  # header only, the vocabulary skipped


def test_module_does_not_import_llama_cpp() -> None:
    import subprocess

    code = "import sys, core.gguf, engines.llm.spec; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_crafted_file_with_arrays_and_tensors(gguf_writer: GGUFWriter) -> None:
    path = gguf_writer("tiny.gguf", [*TINY_ARCH, ("general.file_type", "u32", 15),
                                     ("llama.attention.head_count_kv", "arr:i32", [2, 1])],
                       [("a", (32, 2), 0, b"\0" * 256), ("b", (64,), 1, b"\0" * 128)])
    info = read_gguf(path)
    assert info.quantization == "Q4_K_M"
    assert info.parameter_count == 128
    assert info.n_head_kv == 2  # per-layer lists count as their largest
    assert info.vocab_size == 100
    assert [t.name for t in info.tensors] == ["a", "b"]
    assert info.tensors[0].n_bytes == 256


@pytest.mark.parametrize(("content", "words"), [
    (b"<!DOCTYPE html><html>Not found</html>" * 3, "HTML"),
    (b"PK\x03\x04" + b"\0" * 60, "zip archive"),
    (struct.pack("<Q", 20) + b'{"__metadata__":{}}    ' + b"\0" * 20, "safetensors"),
    (b"lmgg" + b"\0" * 60, "old GGML"),
    (b"just some text, definitely not a model\n" * 2, "not a GGUF model"),
])
def test_not_a_gguf_says_what_it_looks_like(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFError, match=words) as caught:
        read_gguf(path)
    assert caught.value.kind is ErrorKind.BAD_INPUT


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="no such file") as caught:
        read_gguf(tmp_path / "nope.gguf")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(GGUFError, match="only 0 bytes"):
        read_gguf(tmp_path / "empty.gguf")
    with pytest.raises(GGUFError, match="folder"):
        read_gguf(tmp_path)


def test_truncated_download_reports_missing_bytes(tmp_path: Path, smollm2_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as source:
        cut.write_bytes(source.read(40_000_000))
    with pytest.raises(GGUFError, match=r"truncated: its tensors need 98,3\d\d,\d\d\d bytes but the file "
                                         r"has 40,000,000 bytes"):
        read_gguf(cut)


def test_truncated_inside_the_header(tmp_path: Path, smollm2_path: Path) -> None:
    cut = tmp_path / "header.gguf"
    with smollm2_path.open("rb") as source:
        cut.write_bytes(source.read(5000))
    with pytest.raises(GGUFError, match="truncated or corrupt"):
        read_gguf(cut)


def test_corrupt_headers(model_copy: Callable[[str], Path]) -> None:
    path = model_copy("corrupt.gguf")
    original = path.read_bytes()[:64]

    def patch(offset: int, data: bytes) -> None:
        with path.open("r+b") as handle:
            handle.seek(offset)
            handle.write(data)

    patch(4, struct.pack("<I", 99))
    with pytest.raises(GGUFError, match="GGUF version 99"):
        read_gguf(path)
    patch(4, struct.pack(">I", 3))
    with pytest.raises(GGUFError, match="big-endian") as caught:
        read_gguf(path)
    assert caught.value.kind is ErrorKind.UNSUPPORTED
    patch(4, original[4:8])
    patch(16, struct.pack("<Q", 2**40))  # metadata count
    with pytest.raises(GGUFError, match=r"more than a \d+-byte file can hold"):
        read_gguf(path)
    patch(16, original[16:24])
    # The first key's length field, then its value type: a garbage type id.
    key_length = struct.unpack_from("<Q", original, 24)[0]
    patch(32 + key_length, struct.pack("<I", 77))
    with pytest.raises(GGUFError, match="unknown value type 77"):
        read_gguf(path)


def test_unknown_tensor_type_and_bad_layout(gguf_writer: GGUFWriter) -> None:
    path = gguf_writer("newtype.gguf", TINY_ARCH, [("w", (32,), 99, b"\0" * 64)])
    with pytest.raises(GGUFError, match="tensor type 99") as caught:
        read_gguf(path)
    assert caught.value.kind is ErrorKind.UNSUPPORTED
    path = gguf_writer("rows.gguf", TINY_ARCH, [("w", (33,), 2, b"\0" * 64)])  # Q4_0 blocks of 32
    with pytest.raises(GGUFError, match="not a multiple"):
        read_gguf(path)
    path = gguf_writer("dims.gguf", TINY_ARCH, [("w", (1, 1, 1, 1, 1), 0, b"\0" * 4)])
    with pytest.raises(GGUFError, match="5 dimensions"):
        read_gguf(path)


def test_no_architecture_and_duplicate_keys(gguf_writer: GGUFWriter) -> None:
    with pytest.raises(GGUFError, match=r"general\.architecture"):
        read_gguf(gguf_writer("noarch.gguf", [("general.name", "str", "x")]))
    with pytest.raises(GGUFError, match="appears twice"):
        read_gguf(gguf_writer("dup.gguf", [*TINY_ARCH, ("general.name", "str", "again")]))
    path = gguf_writer("utf.gguf", [*TINY_ARCH, ("general.note", "str", "caf\u00e9")])
    path.write_bytes(path.read_bytes().replace("caf\u00e9".encode(), b"caf\xff\xfe"))
    with pytest.raises(GGUFError, match="not valid UTF-8"):
        read_gguf(path)


def test_memory_estimate_from_the_header_alone(smollm2_path: Path) -> None:
    from engines.llm.memory_check import estimate_for_file

    default = estimate_for_file(str(smollm2_path))
    assert default.kv_cache_bytes == 2 * 30 * 4096 * 3 * 64 * 2  # f16 K and V at min(4096, 8192)
    full = estimate_for_file(str(smollm2_path), 8192)
    quantized = estimate_for_file(str(smollm2_path), 8192, kv_type="q8_0")
    assert full.kv_cache_bytes == 2 * default.kv_cache_bytes
    assert quantized.kv_cache_bytes < full.kv_cache_bytes
    assert full.weights_bytes == read_gguf(smollm2_path).weights_bytes
