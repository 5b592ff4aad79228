"""Read weight files safely (safetensors, or ``torch.load(weights_only=True)``) and check they fit a model.

Nothing here unpickles arbitrary objects: a checkpoint that holds Python objects other than tensors and
plain containers is refused with a message that says so.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.base import EngineError, ErrorKind

# Wrappers that training scripts put around the state dict, most specific first.
_WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model_state_dict", "model", "net", "weights")


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors by name from a .safetensors, .pth, .pt or .bin file."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        tensors = _read_safetensors(path)
    elif suffix in (".pth", ".pt", ".bin", ".ckpt"):
        tensors = _read_torch(path)
    else:
        raise EngineError(ErrorKind.UNSUPPORTED, f"{path.name}: weights must be .safetensors, .pth, .pt or .bin")
    if not tensors:
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: holds no tensors")
    return tensors


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: not a valid safetensors file ({exc})") from exc


def _read_torch(path: Path) -> dict[str, Any]:
    import torch

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only load failed" in str(exc).lower() or "unsupported global" in str(exc).lower():
            raise EngineError(ErrorKind.BAD_INPUT,
                              f"{path.name}: refusing to load: the checkpoint contains Python objects other than "
                              f"tensors, and unpickling them could run code ({first})") from exc
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: not a PyTorch weights file ({first})") from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        words = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: not a PyTorch weights file ({words})") from exc
    return _unwrap(loaded, path)


def _unwrap(loaded: Any, path: Path) -> dict[str, Any]:
    import torch

    state = loaded
    if isinstance(state, Mapping):
        for key in _WRAPPER_KEYS:
            inner = state.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                state = inner
                break
    if not isinstance(state, Mapping):
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: holds a {type(loaded).__name__}, not a state dict "
                                               "(a mapping of parameter names to tensors)")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) < len(state):
        others = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)][:3]
        if not tensors:
            raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: not a state dict (entries such as "
                                                   f"{', '.join(others)} are not tensors)")
    if all(k.startswith("module.") for k in tensors):  # saved from DataParallel
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def check_fit(model: Any, state: Mapping[str, Any], architecture: str, filename: str) -> None:
    """Raise a bad-input error naming missing, unexpected and mis-shaped tensors unless ``state`` fits."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                  for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    for words, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if items:
            shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
            parts.append(f"{len(items)} {words} ({shown})")
    raise EngineError(ErrorKind.BAD_INPUT,
                      f"{filename}: the weights do not fit architecture {architecture!r}: {'; '.join(parts)}")
