"""``workbench serve``: the OpenAI-compatible server in the foreground (registered by the launcher)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from server.config import DEFAULT_PORT, MAX_TOKENS_LIMIT


def register(subparsers: Any) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve", help="serve models over an OpenAI-compatible HTTP API (chat, completions, embeddings, ...)",
        description="Serve the workbench's models over an OpenAI-compatible API. Models load on first use and "
                    "unload after --ttl seconds idle. Every request is a run in the history (tag 'api').")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; any other address needs --api-key)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--model", "-m", action="append", default=[], metavar="ID",
                        help="load this model at start (repeatable); others load on first use")
    parser.add_argument("--parallel", type=int, default=1, metavar="N",
                        help="requests of one model decoded together (the LLM load option 'parallel')")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on every request but /health")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser pages from ORIGIN (repeatable; off by default)")
    parser.add_argument("--ttl", type=float, default=600.0, metavar="S",
                        help="unload a model after S seconds without requests (default 600)")
    parser.add_argument("--ctx", type=int, default=None, help="context tokens per request (default: engine's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per model worker")
    parser.add_argument("--chat-format", metavar="NAME|FILE",
                        help="chat template for the LLMs instead of their GGUF's: a builtin name (chatml, "
                             "chatml-tools for tool calls with a ChatML model, llama-3, gemma, ...) or a Jinja file")
    parser.add_argument("--device", default="cpu", help="device for the models (default cpu)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS_LIMIT,
                        help=f"largest max_tokens a request may ask for (default {MAX_TOKENS_LIMIT})")
    parser.add_argument("--queue", type=int, default=64, help="requests that may wait per model (then 503)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the service and serve until Ctrl+C."""
    import uvicorn

    from app.history_open import open_history
    from server.app import create_app
    from server.config import InsecureBind, ServerConfig
    from server.service import effective, make_service

    chat_format = args.chat_format
    if chat_format and Path(chat_format).is_file():
        chat_format = Path(chat_format).read_text(encoding="utf-8")
    config = ServerConfig(host=args.host, port=args.port, api_key=args.api_key,
                          cors_origins=tuple(args.cors_origin), parallel=args.parallel, n_ctx=args.ctx,
                          threads=args.threads, chat_format=chat_format, device=args.device,
                          max_tokens_limit=args.max_tokens, preload=tuple(args.model))
    if args.parallel > 1 and effective(config).parallel == 1:
        print(f"note: this build's LLM engine does not batch yet: --parallel {args.parallel} is ignored and "
              "requests of one model take turns", file=sys.stderr)
    config = effective(config)
    try:
        config.check()
    except (InsecureBind, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    history = open_history()
    with make_service(history, config, ttl_s=args.ttl, queue_limit=args.queue) as service:
        from server.preload import preload

        if not preload(service, config):
            return 1
        app = create_app(service, config)
        shown = f"[{config.host}]" if ":" in config.host else config.host
        print(f"serving on http://{shown}:{config.port}/v1  (OpenAI-compatible; Ctrl+C stops)")
        if config.api_key:
            print("clients must send: Authorization: Bearer <the key given with --api-key>")
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning", lifespan="off")
    return 0
