"""What the comparison tests share: the small comparison they run once, and its result."""

from __future__ import annotations

from typing import Any

from app.compare.events import CompareEvent
from app.compare.plan import CompareSettings
from app.compare.results import CompareSession
from app.history import History

# Small but complete: every workload, a derived quantization, fp32 and int8, exact and sampled inference.
SMALL = CompareSettings(
    workloads=("llm", "vision", "bayes"), devices=("cpu",), repeat=2, warmup=1,
    llm_threads=(1,), quantize=("Q8_0",), n_prompt=32, n_gen=8, ttft_tokens=4,
    batch_sizes=(1, 2), vision_backends=("onnxruntime",), vision_precisions=("fp32", "int8"),
    bayes_methods=("jt", "lw"), bayes_samples=2000,
)


class SmallRun:
    """The finished session, its history and every event the runner sent."""

    def __init__(self, session: CompareSession, history: History, events: list[CompareEvent]) -> None:
        self.session = session
        self.history = history
        self.events = events

    def rows(self, workload: str) -> list[Any]:
        return [r for r in self.session.results if r.workload == workload]
