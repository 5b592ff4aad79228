"""The LLM engine's contract: what its ops take and give (plain dicts on the wire, typed here)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ChatMessage(TypedDict):
    """One message of the context."""

    role: str
    content: str


class ChatParams(TypedDict, total=False):
    """``chat`` parameters: the context and the sampling settings."""

    messages: list[ChatMessage]
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float
    seed: int
    max_tokens: int
    stop: list[str]
    ignore_eos: bool


class ChatPartial(TypedDict):
    """One generated token: its text (may be empty while held back), when it came, how many so far."""

    text: str
    t: float
    n: int


class ChatResult(TypedDict):
    """A finished answer with its measurements."""

    text: str
    stop_reason: str  # eos | stop | length | context_full | cancelled
    gen_tokens: int
    prompt_tokens: int
    context_used: int
    n_ctx: int
    metrics: dict[str, float]
    series: NotRequired[dict[str, list[list[float]]]]
