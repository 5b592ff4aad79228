"""What the Chat page says about models: the installed list, the memory fit, the loaded model's line."""

from __future__ import annotations

import sys
from typing import Any

from ui.context import AppContext


def list_llm_models(context: AppContext) -> list[tuple[str, str]]:
    """(ref, label) of every installed GGUF model: the starter models, then the registry's."""
    from app.models.registry import Registry

    out = []
    for record in Registry(context.history).list("llm"):
        if record.format != "gguf" or not record.exists:
            continue
        size = f"{record.size_bytes / 2**20:.0f} MB" if record.size_bytes else ""
        parts = [record.id, record.quant or "", size]
        if record.meta.get("chat") is False:
            parts.append("base, no chat")
        out.append((record.id, " · ".join(part for part in parts if part)))
    return out


def estimate_fit(ref: str, n_ctx: int) -> str:
    """One line saying how much memory ``ref`` needs at ``n_ctx`` and whether it fits (no model is read)."""
    from app.model_refs import resolve_model_ref
    from app.models.fit import estimate_file_fit
    from core.memory_fit import available_memory

    path = resolve_model_ref(ref, "llm")
    size = path.stat().st_size
    free_ram, free_vram = available_memory()
    fit = estimate_file_fit(path.name, size, free_ram=free_ram, free_vram=free_vram, n_ctx=n_ctx)
    if fit is None:
        return f"{path.name}: {size / 2**20:.0f} MB"
    return (f"needs ≈ {fit.required_bytes / 2**30:.2f} GiB at context {n_ctx}, "
            f"{free_ram / 2**30:.1f} GiB RAM free: {fit.verdict.value}")


def describe_loaded(info: dict[str, Any], label: str | None = None) -> str:
    """The line shown once a model is loaded, named by ``label`` (its registry or starter id) when given."""
    name = str(info.get("name") or info.get("model_id") or "model")
    parts = [f"{label} ({name})" if label and label != name and "/" not in label else name]
    if info.get("quantization"):
        parts.append(str(info["quantization"]))
    if isinstance(info.get("load_ms"), int | float):
        parts.append(f"loaded in {info['load_ms'] / 1000:.1f} s")
    parts.append(f"on {info.get('device', 'cpu')}")
    if info.get("threads"):
        parts.append(f"{info['threads']} thread{'s' if info['threads'] != 1 else ''}")
    if info.get("n_ctx"):
        parts.append(f"context {info['n_ctx']}")
    memory = info.get("memory") or {}
    if isinstance(memory, dict) and memory.get("total_bytes"):
        parts.append(f"≈ {memory['total_bytes'] / 2**30:.2f} GiB ({memory.get('verdict', '')})")
    if info.get("can_chat") is False:
        parts.append("no chat template: chat is not available")
    return " · ".join(parts)


WORKER_NICE = 5


def lower_priority(pid: int | None, niceness: int = WORKER_NICE) -> None:
    """Run a chat worker a little below the window's priority (Unix nice ``niceness``).

    On a busy machine a worker computing tokens at full speed otherwise delays the UI thread's wake-ups by
    tens of milliseconds; on an idle machine the worker still gets every free cycle, so speed is unchanged.
    """
    if pid is None:
        return
    import psutil

    try:
        process = psutil.Process(pid)
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        elif process.nice() < niceness:
            process.nice(niceness)
    except (psutil.Error, OSError):
        pass  # not allowed or already gone: the worker simply keeps its priority
