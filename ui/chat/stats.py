"""Numbers the Chat page shows: live tokens/s and per-token latency, the line under each answer, context use."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from app.usecases.chat_turn import answer_stats

__all__ = ["TokenRate", "answer_stats", "context_text", "stats_line"]


class TokenRate:
    """Turns token arrival times into per-token latency and a smoothed tokens/s (over the last ``window``)."""

    def __init__(self, window: int = 8) -> None:
        self.window = window
        self.reset(0.0)

    def reset(self, t_request: float) -> None:
        """Start a new answer whose request was sent at ``t_request`` (same clock as the token times)."""
        self.t_request = t_request
        self._last: float | None = None
        self._gaps: deque[float] = deque(maxlen=self.window)
        self.count = 0

    def add(self, t: float) -> tuple[float, float, float | None]:
        """One token at ``t``: (seconds since the request, latency in ms, tokens/s or None for the first)."""
        previous = self.t_request if self._last is None else self._last
        gap = max(t - previous, 0.0)
        rate = None
        if self._last is not None:
            self._gaps.append(gap)
            total = sum(self._gaps)
            rate = len(self._gaps) / total if total > 0 else None
        self._last = t
        self.count += 1
        return t - self.t_request, gap * 1000, rate


def stats_line(stats: Mapping[str, Any]) -> str:
    """``TTFT 212 ms · 35.1 tok/s · 87 tokens`` (and why it stopped when that was not the end of the answer)."""
    parts = []
    ttft = stats.get("ttft_ms")
    if isinstance(ttft, int | float):
        parts.append(f"TTFT {ttft:.0f} ms")
    rate = stats.get("gen_tokens_per_s")
    if isinstance(rate, int | float):
        parts.append(f"{rate:.1f} tok/s")
    tokens = stats.get("gen_tokens")
    if isinstance(tokens, int | float):
        parts.append(f"{int(tokens)} tokens")
    reason = stats.get("stop_reason")
    if reason in ("cancelled", "length", "context_full", "crashed"):
        parts.append({"cancelled": "stopped", "length": "hit the token limit",
                      "context_full": "context full",
                      "crashed": "interrupted: worker crashed (regenerate, or ask it to continue)"}[str(reason)])
    return " · ".join(parts)


def context_text(used: int | None, n_ctx: int | None) -> str:
    """``312 / 4096 tokens (8 %)``."""
    if not n_ctx:
        return "context: –"
    if used is None:
        return f"context: – / {n_ctx} tokens"
    return f"context: {used} / {n_ctx} tokens ({100 * used / n_ctx:.0f} %)"
