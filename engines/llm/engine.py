"""The LLM engine (llama.cpp through llama-cpp-python), living in a worker process.

Ops: ``chat`` (messages -> streamed answer), ``complete`` (raw prompt), ``bench`` (llama-bench pp/tg),
``tokenize`` and ``count`` (context usage), ``info`` (GGUF metadata + load settings), ``quantize``,
``quality`` (llama-perplexity's PPL, KL divergence to a reference: engines/llm/quality.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from engines.base import EngineError, ErrorKind, RunContext
from engines.llm.batching import BatchRequest, BatchScheduler
from engines.llm.chat_template import ChatFormat, resolve_chat_format
from engines.llm.generation import CountingDraft, generate_stream
from engines.llm.grammar import build_grammar
from engines.llm.loader import Loaded, load_model
from engines.llm.native_log import shared_log
from engines.llm.options import LoadOptions, parse_load_options
from engines.llm.sampling import parse_sampling
from engines.llm.tool_calls import CallFilter, ToolRequest, ToolSyntax, detect_syntax, parse_tool_request

_MAX_TOKENIZE_PIECES = 8192


class LlamaEngine:
    """One GGUF model loaded with llama.cpp."""

    def __init__(self) -> None:
        self._loaded: Loaded | None = None
        self._chat: ChatFormat | None = None
        self._tool_syntax: ToolSyntax | None = None
        self._facts: dict[str, Any] = {}
        self._batch: BatchScheduler | None = None
        # Ops the worker may run on threads of their own, side by side (only with parallel > 1 loaded).
        self.concurrent_ops: frozenset[str] = frozenset()

    # --- protocol -----------------------------------------------------------------------------
    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Validate, check memory, load; returns the facts shown to the user and stored with runs."""
        from core.thread_env import default_threads

        parsed = parse_load_options(options)
        ctx.progress(0, 1, "reading GGUF header")
        parallel_memory = _check_parallel_fit(model, device, parsed) if parsed.parallel > 1 else None
        loaded = load_model(model, device, parsed, shared_log(), default_threads=default_threads())
        llm = loaded.llm
        bos, eos = int(llm.token_bos()), int(llm.token_eos())
        self._chat = resolve_chat_format(
            loaded.info.chat_template, parsed.chat_format,
            bos_token=llm._model.token_get_text(bos) if bos >= 0 else "",
            eos_token=llm._model.token_get_text(eos) if eos >= 0 else "",
        )
        self._tool_syntax = detect_syntax(self._chat.template) if self._chat else None
        self._loaded = loaded
        if parsed.parallel > 1:
            ctx.progress(0.9, 1, f"making a context for {parsed.parallel} sequences of {loaded.n_ctx} tokens")
            self._batch = BatchScheduler(llm, parallel=parsed.parallel, n_ctx=loaded.n_ctx, n_batch=parsed.n_batch)
            self.concurrent_ops = frozenset({"chat", "complete"})
        self._facts = self._describe(loaded)
        if parallel_memory is not None:
            self._facts["parallel_memory"] = parallel_memory
        ctx.progress(1, 1, "loaded")
        return self._facts

    def run(self, op: str, params: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Dispatch one request."""
        t_request = time.perf_counter()
        handler = {
            "chat": self._op_chat, "complete": self._op_complete, "tokenize": self._op_tokenize,
            "count": self._op_count, "info": self._op_info, "bench": self._op_bench,
            "quantize": self._op_quantize, "quality": self._op_quality, "embed": self._op_embed,
            "detokenize": self._op_detokenize,
        }.get(op)
        if handler is None:
            raise EngineError(ErrorKind.BAD_INPUT, f"the llm engine has no op {op!r}")
        return handler(params, ctx, t_request)

    def unload(self) -> None:
        """Free the model and the KV cache."""
        if self._batch is not None:
            self._batch.close()
            self._batch = None
            self.concurrent_ops = frozenset()
        if self._loaded is not None:
            self._loaded.llm.close()
            self._loaded = None

    # --- helpers ------------------------------------------------------------------------------
    @property
    def loaded(self) -> Loaded:
        """The loaded model (a request before load is a caller bug reported as bad input)."""
        if self._loaded is None:
            raise EngineError(ErrorKind.BAD_INPUT, "no model is loaded")
        return self._loaded

    def _describe(self, loaded: Loaded) -> dict[str, Any]:
        import llama_cpp

        summary = loaded.info.summary()
        return {
            **summary,
            "model_id": summary["name"],
            "device": loaded.device,
            "n_ctx": loaded.n_ctx,  # per sequence when parallel > 1: every request gets all of it
            "parallel": loaded.options.parallel,
            "n_ctx_train": loaded.info.context_length,
            "threads": loaded.threads,
            "threads_batch": loaded.threads_batch,
            "gpu_layers": loaded.gpu_layers,
            "load_options": loaded.options.to_dict(),
            "chat_format": self._chat.name if self._chat else None,
            "can_chat": self._chat is not None,
            "tool_syntax": self._tool_syntax.name if self._tool_syntax else None,
            "memory": loaded.memory,
            "load_ms": loaded.load_ms,
            "llama_cpp_python": llama_cpp.__version__,
            "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        }

    def _tokenize_prompt(self, text: str, *, chat: bool) -> list[int]:
        llm = self.loaded.llm
        add_bos = bool(llm._model.add_bos_token())
        if chat and self._chat is not None and self._chat.bos_token and text.startswith(self._chat.bos_token):
            add_bos = False  # the template already wrote it; a second BOS degrades answers
        tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=chat)
        return tokens

    def _render(self, params: Mapping[str, Any], tools: ToolRequest | None = None) -> str:
        if self._chat is None:
            raise EngineError(ErrorKind.UNSUPPORTED,
                              f"{self.loaded.info.name} has no chat template (a base model?): use 'complete' "
                              "with a raw prompt, or load with chat_format=chatml|llama-3|gemma|...")
        messages = params.get("messages")
        if messages is None and isinstance(params.get("prompt"), str):
            messages = ([{"role": "system", "content": params["system"]}] if params.get("system") else [])
            messages.append({"role": "user", "content": params["prompt"]})
        if messages is None:
            raise EngineError(ErrorKind.BAD_INPUT, "chat needs 'messages' (or a 'prompt')")
        return self._chat.render(messages, tools=tools.template_tools() if tools else None)

    def _check_room(self, tokens: list[int]) -> None:
        n_ctx = self.loaded.n_ctx
        if len(tokens) >= n_ctx:
            raise EngineError(ErrorKind.BAD_INPUT,
                              f"the prompt is {len(tokens)} tokens but the context holds {n_ctx}: shorten it "
                              f"(or the conversation) or load the model with a larger context")

    def _generate(self, tokens: list[int], params: Mapping[str, Any], ctx: RunContext,
                  t_request: float) -> dict[str, Any]:
        sampling = parse_sampling(params)
        self._check_room(tokens)
        if not tokens:
            raise EngineError(ErrorKind.BAD_INPUT, "the prompt has no tokens")
        if self._batch is not None:
            request = BatchRequest(tokens, sampling, ctx, t_request, grammar=build_grammar(params),
                                   logprobs=_logprobs(params), emit=bool(params.get("stream", True)))
            result = self._batch.generate(request).result()
            result["sampling"] = sampling.to_dict()
            result["speculative"] = False
            result["batched"] = True
            return result
        draft = None
        if self.loaded.draft is not None and params.get("speculative", True):
            draft = CountingDraft(self.loaded.draft)
        logprobs = _logprobs(params)
        if logprobs is not None:
            draft = None  # the logits row read per token must be the one the token was sampled from
        generation = generate_stream(
            self.loaded.llm, tokens, sampling, ctx, t_request=t_request,
            cache_prompt=bool(params.get("cache_prompt", True)), draft=draft,
            emit=bool(params.get("stream", True)), grammar=build_grammar(params), logprobs=logprobs,
        )
        result = generation.result()
        result["sampling"] = sampling.to_dict()
        result["speculative"] = draft is not None
        return result

    # --- ops ----------------------------------------------------------------------------------
    def _op_chat(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        tools = parse_tool_request(params)
        if tools is None:
            prompt = self._render(params)
            result = self._generate(self._tokenize_prompt(prompt, chat=True), params, ctx, t_request)
        else:
            result = self._chat_with_tools(params, tools, ctx, t_request)
        result["chat_format"] = self._chat.name if self._chat else None
        return result

    def _chat_with_tools(self, params: Mapping[str, Any], tools: ToolRequest, ctx: RunContext,
                         t_request: float) -> dict[str, Any]:
        """Render the tools into the prompt, force a call when asked, and parse the calls out of the answer."""
        syntax = self._tool_syntax
        if syntax is None:
            raise EngineError(ErrorKind.UNSUPPORTED,
                              f"the chat template of {self.loaded.info.name} does not render tools: use a model "
                              "whose template does (Qwen 2.5+, Llama 3.1+, Hermes, Mistral), or load a ChatML "
                              "model with chat_format=chatml-tools")
        if any(params.get(k) for k in ("grammar", "json_schema", "json")):
            raise EngineError(ErrorKind.BAD_INPUT, "tools cannot be combined with response_format or a grammar")
        prompt = self._render(params, tools)
        if tools.choice == "required" or tools.forced:
            params = {**params, "grammar": syntax.grammar(tools.tools, only=tools.forced, parallel=tools.parallel)}
        calls_filter = CallFilter(syntax)
        result = self._generate(self._tokenize_prompt(prompt, chat=True), params,
                                _CallFilteringContext(ctx, calls_filter), t_request)
        split = syntax.split(str(result["text"]))
        calls = syntax.parse(split[1]) if split is not None else None
        tail = calls_filter.finish(calls is not None)
        if tail and params.get("stream", True):
            ctx.partial({"text": tail, "t": time.perf_counter(), "n": result.get("gen_tokens", 0)})
        if calls is not None and split is not None:
            # The generation's own reason stays: usage leaves out an end-of-generation token (as OpenAI).
            result.update(text=split[0], tool_calls=calls, stop_reason="tool_calls",
                          generation_stop=result["stop_reason"])
        return result

    def _op_complete(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise EngineError(ErrorKind.BAD_INPUT, "complete needs a non-empty 'prompt' string")
        return self._generate(self._tokenize_prompt(prompt, chat=False), params, ctx, t_request)

    def _op_tokenize(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        text = params.get("text")
        if not isinstance(text, str):
            raise EngineError(ErrorKind.BAD_INPUT, "tokenize needs a 'text' string")
        llm = self.loaded.llm
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=bool(params.get("add_bos", False)),
                              special=bool(params.get("special", False)))
        pieces = [llm.detokenize([t]).decode("utf-8", "replace") for t in tokens[:_MAX_TOKENIZE_PIECES]]
        return {"tokens": tokens, "pieces": pieces, "count": len(tokens), "n_ctx": self.loaded.n_ctx}

    def _op_embed(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        from engines.llm.embedding import embed

        return embed(self.loaded, params)

    def _op_detokenize(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        tokens = params.get("tokens")
        n_vocab = int(self.loaded.llm.n_vocab())
        if not isinstance(tokens, list) or not all(isinstance(t, int) and 0 <= t < n_vocab for t in tokens):
            raise EngineError(ErrorKind.BAD_INPUT, f"detokenize needs 'tokens': ids in 0..{n_vocab - 1}")
        text = self.loaded.llm.detokenize(tokens).decode("utf-8", "replace")
        return {"text": text, "count": len(tokens)}

    def _op_count(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        if "messages" in params or ("prompt" in params and params.get("chat", self._chat is not None)):
            tokens = self._tokenize_prompt(self._render(params), chat=True)
        elif isinstance(params.get("text"), str):
            tokens = self._tokenize_prompt(params["text"], chat=False)
        else:
            raise EngineError(ErrorKind.BAD_INPUT, "count needs 'messages', 'prompt' or 'text'")
        n_ctx = self.loaded.n_ctx
        return {"tokens": len(tokens), "n_ctx": n_ctx, "fraction": len(tokens) / n_ctx,
                "fits": len(tokens) < n_ctx}

    def _op_info(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        import llama_cpp

        info = self.loaded.info
        # The vocabulary arrays are summaries already; everything else is plain data.
        metadata = {k: v if isinstance(v, str | int | float | bool | list) else repr(v)
                    for k, v in info.metadata.items() if not k.startswith("tokenizer.ggml.")}
        return {**self._facts, "metadata": metadata,
                "chat_template": info.chat_template,
                "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace")}

    def _op_bench(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        from engines.llm.bench import run_bench

        facts = {k: self._facts.get(k) for k in ("name", "architecture", "parameters", "quantization",
                                                  "file_size", "device", "threads", "n_ctx", "gpu_layers")}
        options = self.loaded.options
        facts.update(n_batch=options.n_batch, n_ubatch=options.n_ubatch, flash_attn=options.flash_attn,
                     cache_type_k=options.cache_type_k, cache_type_v=options.cache_type_v)
        return run_bench(self.loaded.llm, params, ctx, facts)

    def _op_quantize(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        from engines.llm.quantize import quantize

        output, kind = params.get("output"), params.get("type")
        if not isinstance(output, str) or not isinstance(kind, str):
            raise EngineError(ErrorKind.BAD_INPUT, "quantize needs 'output' (a path) and 'type' (e.g. Q8_0)")
        ctx.progress(0, 1, f"quantizing to {kind}")
        result = quantize(self.loaded.info.path, output, kind, threads=self.loaded.threads)
        ctx.progress(1, 1, "done")
        return result

    def _op_quality(self, params: Mapping[str, Any], ctx: RunContext, t_request: float) -> dict[str, Any]:
        from engines.llm.quality import run_quality

        return run_quality(self.loaded.llm, params, ctx, self._facts)


def _check_parallel_fit(model: str, device: str, options: LoadOptions) -> dict[str, Any]:
    """Refuse (unless forced) a parallel load whose KV caches will not fit; the cost, for the model info.

    The batched context holds ``parallel`` × n_ctx cells and the model's own context (tokenize, bench,
    quality) one n_ctx more, so the check runs at (parallel + 1) × n_ctx before anything is loaded.
    """
    from core.gguf import read_gguf
    from engines.llm.loader import choose_context, gpu_layers_for
    from engines.llm.memory_check import check_fit, estimate

    info = read_gguf(model)
    n_ctx = choose_context(info, options)
    total = n_ctx * (options.parallel + 1)
    report = check_fit(info, total, options, gpu=gpu_layers_for(device, options)[0] != 0)
    per_sequence = estimate(info, n_ctx, options).kv_cache_bytes
    return {**report, "parallel": options.parallel, "n_ctx_per_sequence": n_ctx, "kv_cells": total,
            "kv_cache_bytes_per_sequence": per_sequence,
            "note": f"{options.parallel} sequences × {n_ctx} tokens each, plus the model's own context of "
                    f"{n_ctx}: KV cache about {report['kv_cache_bytes'] / 2**20:.0f} MiB in all"}


def _logprobs(params: Mapping[str, Any]) -> int | None:
    """How many alternatives to report per token (None: no log-probabilities at all)."""
    value = params.get("logprobs")
    if value is None or value is False:
        return None
    top = 0 if value is True else value
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
        raise EngineError(ErrorKind.BAD_INPUT, f"logprobs must be true or a whole number 0..20, not {value!r}")
    return top


class _CallFilteringContext:
    """A RunContext whose streamed text stops where the answer's tool calls begin."""

    def __init__(self, inner: RunContext, calls_filter: CallFilter) -> None:
        self._inner, self._filter = inner, calls_filter

    @property
    def request_id(self) -> str:
        """The wrapped request's id."""
        return self._inner.request_id

    def cancel_requested(self) -> bool:
        """As the wrapped context."""
        return self._inner.cancel_requested()

    def check_cancelled(self) -> None:
        """As the wrapped context."""
        self._inner.check_cancelled()

    def partial(self, data: Mapping[str, Any]) -> None:
        """Pass the token on with only the text that is not part of a tool call."""
        if "text" in data:
            data = {**data, "text": self._filter.feed(str(data["text"]))}
        self._inner.partial(data)

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """As the wrapped context."""
        self._inner.progress(done, total, message)

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        """As the wrapped context."""
        self._inner.sample(series, value, t)
