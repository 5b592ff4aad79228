"""A scripted OpenAI-compatible SSE server: fixed TTFT and token gaps, known token counts, chosen failures.

It answers ``/v1/completions`` and ``/v1/chat/completions`` (streaming only), ``/tokenize`` and
``/detokenize`` (vLLM's shapes; one token per whitespace-separated word) and ``/v1/models``. Chunks leave at
absolute deadlines (arrival + ttft + k*gap) so sleep jitter does not accumulate, and the time each left is
logged (``perf_counter``, the client's clock when both run in one process). It measures the benchmark
client (bench/serve_client.py) and tests it; it is not a model server. Standard library only.

Run alone: ``python -m app.loadgen.scripted_server --port 0 --ttft-ms 20 --gap-ms 5`` prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FAILURES = ("http500", "error-event", "abort", "hang")


@dataclass(frozen=True)
class Script:
    """How the server answers every request."""

    ttft_s: float = 0.02
    gap_s: float = 0.005
    tokens: int | None = None  # content tokens per answer; None = the request's max_tokens
    role_chunk: bool = True  # chat: a role-only first chunk (choices non-empty, no content), as vLLM sends
    usage: bool = True  # honour stream_options.include_usage with a final usage-only chunk
    api_key: str | None = None  # answer 401 unless "Authorization: Bearer <key>"
    fail: str | None = None  # one of FAILURES, for every request
    fail_after: int = 2  # content chunks sent before a mid-stream failure
    llama_tokenize: bool = False  # /tokenize and /detokenize in llama-server's shape ("content") only
    # Close this many kept-alive connections, in all, on the next request without answering it (as
    # llama-server now and then does with a connection a client reuses).
    drop_reused: int = 0


@dataclass
class Served:
    """What the server did for one request."""

    path: str
    body: dict[str, Any]
    received: float
    sent: list[float] = field(default_factory=list)  # when each ``choices`` chunk was written


class _Vocab:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text: str) -> list[int]:
        out = []
        for word in text.split():
            if word not in self.ids:
                self.ids[word] = len(self.words)
                self.words.append(word)
            out.append(self.ids[word])
        return out

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids if 0 <= i < len(self.words))


class ScriptedServer:
    """The server on 127.0.0.1 in a thread of its own: ``with ScriptedServer(Script(...)) as server: server.url``."""

    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script = script or Script()
        self.port = port
        self.served: list[Served] = []
        self._vocab = _Vocab()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._dropped = 0

    @property
    def url(self) -> str:
        """The base URL (with ``/v1``, as OpenAI clients take it)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ScriptedServer:
        """Start serving in a daemon thread; returns once the port is bound."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), name="scripted-sse", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the scripted server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def serve(self) -> None:
        """Serve until stopped (call :meth:`stop` from another thread)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if answered and self._dropped < self.script.drop_reused:
                    self._dropped += 1
                    break
                answered += 1
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body_bytes = await reader.readexactly(int(headers.get("content-length", "0")))
                received = time.perf_counter()
                body = json.loads(body_bytes) if body_bytes else {}
                if not await self._answer(method, path, headers, body, received, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    def _plain(writer: asyncio.StreamWriter, status: str, payload: Any) -> None:
        data = json.dumps(payload).encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "\r\n".encode() + data)

    async def _answer(self, method: str, path: str, headers: dict[str, str], body: dict[str, Any],
                      received: float, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close."""
        script = self.script
        if script.api_key and headers.get("authorization") != f"Bearer {script.api_key}":
            self._plain(writer, "401 Unauthorized", {"error": {"message": "invalid API key", "code": 401}})
        elif path == "/v1/models":
            self._plain(writer, "200 OK", {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        elif path == "/tokenize":
            text = body.get("content", "") if script.llama_tokenize else body.get("prompt", "")
            tokens = self._vocab.encode(str(text))
            self._plain(writer, "200 OK", {"tokens": tokens, "count": len(tokens), "max_model_len": 1 << 20})
        elif path == "/detokenize":
            text = self._vocab.decode([int(t) for t in body.get("tokens", [])])
            self._plain(writer, "200 OK", {"content": text} if script.llama_tokenize else {"prompt": text})
        elif path in ("/v1/completions", "/v1/chat/completions") and method == "POST":
            return await self._stream(path, body, received, writer)
        else:
            self._plain(writer, "404 Not Found", {"error": {"message": f"no route {method} {path}"}})
        await writer.drain()
        return True

    async def _stream(self, path: str, body: dict[str, Any], received: float, writer: asyncio.StreamWriter) -> bool:
        script = self.script
        served = Served(path, body, received)
        self.served.append(served)
        if script.fail == "hang":
            await asyncio.Event().wait()  # never answers; ends when the server stops
        if script.fail == "http500":
            self._plain(writer, "500 Internal Server Error", {"error": {"message": "scripted failure", "code": 500}})
            await writer.drain()
            return True
        chat = path.endswith("chat/completions")
        count = script.tokens if script.tokens is not None else int(body.get("max_tokens") or 16)
        prompt_tokens = len(str(body.get("prompt", "")).split()) if not chat else sum(
            len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")

        def send(payload: str) -> None:
            data = f"data: {payload}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        for k, (when, event) in enumerate(self._events(chat, count)):
            delay = received + when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            content_sent = k - (1 if chat and script.role_chunk else 0)
            if script.fail in ("error-event", "abort") and content_sent == script.fail_after:
                if script.fail == "abort":
                    await writer.drain()
                    writer.transport.abort()
                    return False
                send(json.dumps({"error": {"message": "scripted failure mid-stream", "type": "InternalServerError",
                                           "code": 500}}))
                break
            send(json.dumps(event))
            served.sent.append(time.perf_counter())
            await writer.drain()
        else:
            if script.usage and (body.get("stream_options") or {}).get("include_usage"):
                send(json.dumps({"id": "cmpl-scripted", "object": "chunk", "choices": [], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": count,
                    "total_tokens": prompt_tokens + count}}))
        send("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _events(self, chat: bool, count: int) -> Iterator[tuple[float, dict[str, Any]]]:
        """(seconds after arrival, chunk) for every ``choices`` chunk of an answer."""
        script = self.script
        base = {"id": "cmpl-scripted", "created": 0, "model": "scripted"}
        k = 0
        if chat and script.role_chunk:
            yield script.ttft_s, {**base, "object": "chat.completion.chunk",
                                  "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
            k = 1
        for i in range(count):
            when = script.ttft_s + (i + k) * script.gap_s
            finish = "length" if i == count - 1 else None
            if chat:
                yield when, {**base, "object": "chat.completion.chunk", "choices": [
                    {"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": finish}]}
            else:
                yield when, {**base, "object": "text_completion", "choices": [
                    {"index": 0, "text": f" w{i}", "finish_reason": finish}]}


def main() -> None:
    """Serve until interrupted, printing the URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    parser.add_argument("--tokens", type=int)
    args = parser.parse_args()
    server = ScriptedServer(Script(ttft_s=args.ttft_ms / 1000, gap_s=args.gap_ms / 1000, tokens=args.tokens),
                            args.port)
    server.start()
    print(server.url, flush=True)  # noqa: T201 - the caller reads the URL from stdout
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()


if __name__ == "__main__":
    main()
