"""The echo test engine declaring ``stream`` concurrent when loaded with ``parallel`` > 1 (worker threads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engines.base import RunContext
from tests.support.echo_engine import SPEC as ECHO_SPEC
from tests.support.echo_engine import EchoEngine

SPEC = replace(ECHO_SPEC, id="echo-concurrent", title="Echo, concurrent streams (tests)",
               engine_class="tests.support.concurrent_echo:ConcurrentEchoEngine", parallel_option="parallel")


class ConcurrentEchoEngine(EchoEngine):
    """Streams side by side, as the LLM engine's batched chat does."""

    def __init__(self) -> None:
        super().__init__()
        self.concurrent_ops: frozenset[str] = frozenset()

    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Load like the echo engine; ``parallel`` > 1 makes ``stream`` concurrent."""
        info = super().load(model, device, options, ctx)
        self.concurrent_ops = frozenset({"stream"}) if int(options.get("parallel", 1)) > 1 else frozenset()
        return info
