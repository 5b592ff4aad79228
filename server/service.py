"""The model service the server runs over when it owns one (``workbench serve``, tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.discovery import get_spec
from app.service import LoadSpec, ModelService, SlotKey
from server.config import ServerConfig

if TYPE_CHECKING:
    from app.history import History


def engine_takes_parallel() -> bool:
    """True once the LLM engine declares the load option ``parallel`` (continuous batching)."""
    return any(option.name == "parallel" for option in get_spec("llm").load_options)


def make_service(history: History | None, config: ServerConfig, *, ttl_s: float | None = 600.0,
                 queue_limit: int = 64) -> ModelService:
    """A service whose LLM slots run ``parallel`` requests at once where the engine batches them."""

    def parallel(key: SlotKey, spec: LoadSpec) -> int:
        value = spec.options.get("parallel", 1)
        return int(value) if key.engine == "llm" and isinstance(value, int) else 1

    return ModelService(history, ttl_s=ttl_s, queue_limit=queue_limit, parallel=parallel)


def effective(config: ServerConfig) -> ServerConfig:
    """``config`` with ``parallel`` 1 when the engine cannot batch yet (its requests then take turns)."""
    if config.parallel > 1 and not engine_takes_parallel():
        from dataclasses import replace

        return replace(config, parallel=1)
    return config
