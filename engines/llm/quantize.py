"""Derive another quantization of a GGUF locally with llama.cpp's ``llama_model_quantize``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.gguf import FILE_TYPES, read_gguf
from engines.base import EngineError, ErrorKind

# The targets that make sense on a CPU without an importance matrix.
QUANT_TARGETS = ("F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S",
                 "Q4_0", "Q4_1", "Q3_K_M", "Q3_K_S", "Q3_K_L", "Q2_K")
_FTYPE_IDS = {name: number for number, name in FILE_TYPES.items()}


def quantize(source: str | Path, target: str | Path, quant_type: str, *, threads: int = 1) -> dict[str, Any]:
    """Write ``target`` as ``quant_type`` from ``source``; returns sizes and the time taken."""
    name = quant_type.upper()
    if name not in QUANT_TARGETS:
        raise EngineError(ErrorKind.BAD_INPUT, f"cannot quantize to {quant_type!r}; choose one of "
                          f"{', '.join(QUANT_TARGETS)}")
    source, target = Path(source), Path(target)
    info = read_gguf(source)
    if target.resolve() == source.resolve():
        raise EngineError(ErrorKind.BAD_INPUT, "the output file must differ from the model file")
    if not target.parent.is_dir():
        raise EngineError(ErrorKind.NOT_FOUND, f"no folder {target.parent} to write {target.name} into")
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPE_IDS[name]
    params.nthread = threads
    # The starter models are already quantized: re-quantizing them is the only offline route.
    params.allow_requantize = True
    partial = target.with_name(target.name + ".part")
    t0 = time.perf_counter()
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    seconds = time.perf_counter() - t0
    if status != 0:
        partial.unlink(missing_ok=True)
        raise EngineError(ErrorKind.INTERNAL, f"llama.cpp failed to quantize {source.name} to {name} "
                          f"(status {status})")
    partial.replace(target)
    produced = read_gguf(target)
    return {"path": str(target), "quantization": produced.quantization,
            "source_quantization": info.quantization, "source_bytes": info.file_size,
            "bytes": produced.file_size, "requantized": info.quantization not in ("F32", "F16", "BF16"),
            "metrics": {"quantize_s": seconds}}
