"""One streaming request to an OpenAI-compatible endpoint, timed chunk by chunk (httpx, asyncio)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import httpx

from app.loadgen.config import BenchConfig
from app.loadgen.records import RequestInput, RequestOutput


def build_payload(config: BenchConfig, request: RequestInput) -> dict[str, Any]:
    """The JSON body: streaming, with usage asked for (``stream_options.include_usage``)."""
    body: dict[str, Any] = {"model": config.model, "stream": True, "stream_options": {"include_usage": True},
                            "max_tokens": request.output_len}
    if config.endpoint == "chat":
        messages = request.messages or (("user", request.prompt),)
        body["messages"] = [{"role": role, "content": content} for role, content in messages]
        # vLLM sends max_completion_tokens; llama-cpp-python and older servers read max_tokens only.
        body["max_completion_tokens"] = request.output_len
    else:
        body["prompt"] = request.prompt
    if config.effective_ignore_eos:
        body["ignore_eos"] = True
    if config.temperature is not None:
        body["temperature"] = config.temperature
    return body


def headers_for(config: BenchConfig) -> dict[str, str]:
    """Request headers (the API key as a bearer token)."""
    headers = {"Accept": "text/event-stream"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return headers


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _error_text(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error if error is not None else payload)


async def send_request(client: httpx.AsyncClient, config: BenchConfig, request: RequestInput) -> RequestOutput:
    """Send one request and record TTFT, ITLs and E2EL the way vLLM's request functions do.

    Never raises for what the server or the network did: a refused connection, an HTTP error status, an
    error event in the stream, a cut stream or a timeout become ``success=False`` with the reason in
    ``error``. Cancellation (``asyncio.CancelledError``) propagates.
    """
    out = RequestOutput(prompt_len=request.prompt_len)
    chat = config.endpoint == "chat"
    text_parts: list[str] = []
    saw_done = False
    # Encoded and built before the clock starts: only sending and waiting count in TTFT.
    content = json.dumps(build_payload(config, request)).encode()
    prepared = client.build_request("POST", config.api_url, content=content,
                                    headers={**headers_for(config), "Content-Type": "application/json"})
    start = time.perf_counter()
    out.start_time = last = start
    try:
        try:
            response = await client.send(prepared, stream=True)
        except httpx.RemoteProtocolError:
            # The server closed a kept-alive connection as this request went out on it (llama-server does
            # now and then): nothing reached it, so the request is sent once more on a fresh connection,
            # timed from then, and the result says so. A second failure is reported as usual.
            out.resent = True
            start = time.perf_counter()
            out.start_time = last = start
            response = await client.send(prepared, stream=True)
        async with contextlib.aclosing(response):
            if response.status_code != 200:
                raw = (await response.aread()).decode("utf-8", "replace")
                try:
                    detail = _error_text(json.loads(raw))
                except ValueError:
                    detail = raw
                out.error = f"HTTP {response.status_code} {response.reason_phrase}: {_short(detail)}".rstrip(": ")
                return out
            pending = b""
            async for data in response.aiter_bytes():
                now = time.perf_counter()  # when these bytes arrived: every event in them shares it
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    # OpenAI-style servers put each event on one ``data:`` line; comments (":") are pings.
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        saw_done = True
                        continue
                    event = json.loads(payload)
                    if not isinstance(event, dict):
                        continue
                    if event.get("error") is not None and not event.get("choices"):
                        out.error = f"error event after {out.chunks} chunks: {_short(_error_text(event))}"
                        return out
                    choices = event.get("choices")
                    if choices:
                        first = choices[0]
                        text = (first.get("delta") or {}).get("content") if chat else first.get("text")
                        if out.chunks == 0:
                            out.ttft = now - start
                        else:
                            out.itl.append(now - last)
                        last = now
                        out.chunks += 1
                        if text:
                            if out.first_content_ttft is None:
                                out.first_content_ttft = now - start
                            text_parts.append(text)
                    usage = event.get("usage")
                    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                        out.output_tokens = int(usage["completion_tokens"])
                        out.usage_reported = True
                        if usage.get("prompt_tokens") is not None:
                            out.prompt_len = int(usage["prompt_tokens"])
    except httpx.TimeoutException as exc:
        out.error = f"timeout ({type(exc).__name__}) after {time.perf_counter() - start:.1f} s and {out.chunks} chunks"
        return out
    except httpx.HTTPError as exc:
        out.error = f"{type(exc).__name__}: {_short(str(exc)) or 'no detail'} (after {out.chunks} chunks)"
        return out
    except ValueError as exc:  # a data line that is not JSON
        out.error = f"malformed stream event after {out.chunks} chunks: {_short(str(exc))}"
        return out
    out.generated_text = "".join(text_parts)
    out.latency = last - start
    if out.chunks == 0:
        out.error = "the stream carried no chunk with choices" + ("" if saw_done else " and no [DONE]")
        return out
    out.success = True
    return out
