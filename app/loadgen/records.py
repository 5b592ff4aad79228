"""What one benchmark request sends and what the client saw while it streamed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestInput:
    """One prompt of a dataset: the text (or chat messages) and the token lengths asked for."""

    prompt: str
    prompt_len: int  # tokens of the prompt by the dataset's tokenizer (0 when unknown)
    output_len: int  # max tokens to generate
    # A ShareGPT conversation may carry the messages as written; None = one user message of ``prompt``.
    messages: tuple[tuple[str, str], ...] | None = None


@dataclass
class RequestOutput:
    """The client-side record of one request (times in seconds, from ``time.perf_counter``)."""

    prompt_len: int = 0
    success: bool = False
    error: str = ""
    start_time: float = 0.0  # when the request was sent
    ttft: float = 0.0  # send -> first SSE chunk whose ``choices`` is non-empty (vLLM's definition)
    first_content_ttft: float | None = None  # send -> first chunk carrying non-empty text (our extra)
    itl: list[float] = field(default_factory=list)  # gaps between successive ``choices`` chunks
    latency: float = 0.0  # send -> last ``choices`` chunk (E2EL)
    generated_text: str = ""
    output_tokens: int = 0  # usage.completion_tokens when the server streamed usage, else counted later
    usage_reported: bool = False
    chunks: int = 0  # SSE events with non-empty ``choices``
    queue_time: float = 0.0  # time spent waiting for the client's concurrency semaphore
    resent: bool = False  # sent again: the server closed the reused connection before answering at all
