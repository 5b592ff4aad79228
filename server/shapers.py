"""OpenAI's response objects for chat completions and (legacy) completions, whole and streamed."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from server.openai_params import chat_logprob, completion_logprobs, finish_reason, usage


class ChatShaper:
    """``chat.completion`` and ``chat.completion.chunk`` objects."""

    def __init__(self, model: str, *, logprobs: bool, include_usage: bool) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.model, self.logprobs, self.include_usage = model, logprobs, include_usage
        self.created = int(time.time())

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                "system_fingerprint": "workbench"}

    def full(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The whole answer with ``usage``."""
        logprobs = ({"content": [chat_logprob(e) for e in result.get("logprobs", [])]} if self.logprobs
                    else None)
        message: dict[str, Any] = {"role": "assistant", "content": result["text"]}
        if result.get("tool_calls"):
            message.update(content=result["text"] or None, tool_calls=result["tool_calls"])
        return {**self._base("chat.completion"),
                "choices": [{"index": 0, "message": message,
                             "logprobs": logprobs, "finish_reason": finish_reason(str(result["stop_reason"]))}],
                "usage": usage(result)}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None,
               logprobs: list[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if logprobs:
            choice["logprobs"] = {"content": [chat_logprob(e) for e in logprobs]}
        chunk = {**self._base("chat.completion.chunk"), "choices": [choice]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def first(self) -> list[dict[str, Any]]:
        """The role chunk."""
        return [self._chunk({"role": "assistant", "content": ""})]

    def chunk(self, text: str, logprobs: list[Mapping[str, Any]]) -> dict[str, Any]:
        """New text."""
        return self._chunk({"content": text}, logprobs=logprobs if self.logprobs else None)

    def last(self, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Finish reason, then usage (``stream_options.include_usage``)."""
        chunks = []
        if result.get("tool_calls"):
            # Each call whole in one delta: clients concatenate argument pieces, so one piece is enough.
            calls = [{"index": i, **call} for i, call in enumerate(result["tool_calls"])]
            chunks.append(self._chunk({"tool_calls": calls}))
        chunks.append(self._chunk({}, finish_reason(str(result["stop_reason"]))))
        if self.include_usage:
            chunks.append({**self._base("chat.completion.chunk"), "choices": [], "usage": usage(result)})
        return chunks


class CompletionShaper:
    """``text_completion`` objects (whole and streamed: the same object with a text piece)."""

    def __init__(self, model: str, *, logprobs: bool, include_usage: bool) -> None:
        self.id = f"cmpl-{secrets.token_hex(12)}"
        self.model, self.logprobs, self.include_usage = model, logprobs, include_usage
        self.created = int(time.time())
        self._offset = 0

    def _obj(self, text: str, finish: str | None, logprobs: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "system_fingerprint": "workbench",
                "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}]}

    def full(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The whole completion with ``usage``."""
        logprobs = completion_logprobs(list(result.get("logprobs", []))) if self.logprobs else None
        return {**self._obj(str(result["text"]), finish_reason(str(result["stop_reason"])), logprobs),
                "usage": usage(result)}

    def first(self) -> list[dict[str, Any]]:
        """Completions send no role chunk."""
        return []

    def chunk(self, text: str, logprobs: list[Mapping[str, Any]]) -> dict[str, Any]:
        """New text."""
        shaped = completion_logprobs(list(logprobs), self._offset) if self.logprobs else None
        self._offset += len(text)
        obj = self._obj(text, None, shaped)
        if self.include_usage:
            obj["usage"] = None
        return obj

    def last(self, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Finish reason, then usage when asked."""
        chunks = [self._obj("", finish_reason(str(result["stop_reason"])), None)]
        if self.include_usage:
            chunks.append({**self._obj("", None, None), "choices": [], "usage": usage(result)})
        return chunks
