"""Load the models named with ``--model`` before the first request, reporting each."""

from __future__ import annotations

import sys

from app.model_refs import UnknownModel, resolve_for_load
from app.service import ModelService
from server.config import ServerConfig


def preload(service: ModelService, config: ServerConfig) -> bool:
    """Load every ``config.preload`` model as an LLM; False (after saying why) when one fails."""
    for model in config.preload:
        try:
            path = resolve_for_load(model, "llm")
        except UnknownModel as exc:
            print(f"error: {exc}", file=sys.stderr)
            return False
        outcome = service.load("llm", path, device=config.device, options=config.llm_options,
                               threads=config.threads).outcome()
        if not outcome.ok:
            print(f"error: {model} did not load: {outcome.error}", file=sys.stderr)
            return False
        print(f"loaded {model}")
    return True
