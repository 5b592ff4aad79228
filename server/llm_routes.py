"""The LLM endpoints: chat completions, completions, embeddings, vLLM's tokenize / detokenize."""

from __future__ import annotations

import base64
import struct
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.service import Finished
from server.context import ServerContext, json_body
from server.errors import ApiError, outcome_error
from server.generation import run_generation
from server.openai_params import (
    bad,
    chat_messages,
    completion_prompt,
    logprobs_chat,
    logprobs_completion,
    model_name,
    sampling_params,
    tool_params,
)
from server.shapers import ChatShaper, CompletionShaper


def _base64(vector: list[float]) -> str:
    """OpenAI's base64 form: little-endian float32s."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


async def _call(ctx: ServerContext, request: Request, path: str, model: str, op: str, params: dict[str, Any],
                options: dict[str, Any] | None = None, engine: str = "llm") -> dict[str, Any]:
    """Run a short op to its end (recorded like every request); failures become API errors."""
    stream = ctx.submit(request, engine, path, op, params, model_id=model, options=options)
    try:
        outcome = (await _finished(stream)).outcome
    finally:
        if not stream.finished:
            stream.cancel()
    if not outcome.ok or outcome.result is None:
        raise outcome_error(outcome)
    return dict(outcome.result)


async def _finished(stream: Any) -> Finished:
    async for event in stream.events():
        if isinstance(event, Finished):
            return event
    raise AssertionError("a ticket's events end with Finished")


def router(ctx: ServerContext) -> APIRouter:
    """The LLM routes bound to ``ctx``."""
    api = APIRouter()
    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await json_body(request)
        model = model_name(body)
        params = {"messages": chat_messages(body), **sampling_params(body, ctx.config.max_tokens_limit),
                  **tool_params(body)}
        logprobs = logprobs_chat(body)
        if logprobs is not None:
            params["logprobs"] = logprobs
        path = await ctx.resolve(model, "llm")
        shaper = ChatShaper(model, logprobs=logprobs is not None, include_usage=_include_usage(body))
        return await run_generation(ctx, request, op="chat", path=path, model_id=model, params=params,
                                    stream=bool(body.get("stream")), shaper=shaper)

    @api.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await json_body(request)
        model = model_name(body)
        params = {"prompt": completion_prompt(body), **sampling_params(body, ctx.config.max_tokens_limit)}
        logprobs = logprobs_completion(body)
        if logprobs is not None:
            params["logprobs"] = logprobs
        path = await ctx.resolve(model, "llm")
        shaper = CompletionShaper(model, logprobs=logprobs is not None, include_usage=_include_usage(body))
        return await run_generation(ctx, request, op="complete", path=path, model_id=model, params=params,
                                    stream=bool(body.get("stream")), shaper=shaper)

    @api.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await json_body(request)
        model = model_name(body)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise bad("encoding_format must be float or base64", "encoding_format")
        path = await ctx.resolve(model, "llm")
        options = {**ctx.config.llm_options, "embedding": True}
        options.pop("parallel", None)
        result = await _call(ctx, request, path, model, "embed", {"input": body.get("input")}, options)
        data = [{"object": "embedding", "index": i, "embedding": v if encoding == "float" else _base64(v)}
                for i, v in enumerate(result["embeddings"])]
        tokens = int(result["prompt_tokens"])
        return JSONResponse({"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @api.post("/tokenize")
    async def tokenize(request: Request) -> Response:
        body = await json_body(request)
        model = model_name(body)
        path = await ctx.resolve(model, "llm")
        if "messages" in body:
            rendered = await _call(ctx, request, path, model, "count", {"messages": chat_messages(body)})
            raise ApiError(400, f"tokenize with messages is not supported; the rendered chat is "
                                f"{rendered['tokens']} tokens (send 'prompt' for the ids)", param="messages")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise bad("'prompt' must be a string", "prompt")
        add_special = bool(body.get("add_special_tokens", True))
        result = await _call(ctx, request, path, model, "tokenize",
                             {"text": prompt, "add_bos": add_special, "special": add_special})
        strs = result["pieces"] if body.get("return_token_strs") else None
        return JSONResponse({"count": result["count"], "max_model_len": result["n_ctx"], "tokens": result["tokens"],
                             "token_strs": strs})

    @api.post("/detokenize")
    async def detokenize(request: Request) -> Response:
        body = await json_body(request)
        model = model_name(body)
        tokens = body.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise bad("'tokens' must be a list of token ids", "tokens")
        path = await ctx.resolve(model, "llm")
        result = await _call(ctx, request, path, model, "detokenize", {"tokens": tokens})
        return JSONResponse({"prompt": result["text"]})

    return api
