"""``workbench chat``: stream answers from a GGUF model, one prompt or an interactive session.

Every turn runs in the LLM worker through ``run_recorded`` (so it is in the history with its per-token
series) and is stored in a conversation. Ctrl-C stops the answer being written, not the session.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.history import History
    from app.recording import RunOutcome
    from app.service import ModelService
    from app.supervisor import WorkerClient
    from app.usecases.chat_state import PreparedRequest
    from app.usecases.chat_turn import ChatModel

SAMPLING_FLAGS = (("temp", "temperature", float), ("top_p", "top_p", float), ("top_k", "top_k", int),
                  ("min_p", "min_p", float), ("repeat_penalty", "repeat_penalty", float), ("seed", "seed", int),
                  ("max_tokens", "max_tokens", int))
HELP = """commands: /new (new conversation)  /regen (another answer, kept as a branch)
  /edit TEXT (replace your last message, as a branch)  /branches  /switch N  /system TEXT
  /export FILE.md|FILE.json  /exit   (Ctrl-C stops an answer; Ctrl-D or /exit quits)"""


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, device and load options shared by ``chat`` and ``bench llm``."""
    parser.add_argument("-m", "--model", help="a .gguf file or a model id (default: the model used last, "
                        "else the engine's starter model; see `workbench models list`)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda:0, ... (GPU needs a GPU build)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: measured physical cores)")
    parser.add_argument("--gpu-layers", help="layers to offload on a GPU device: all (default), none or N")
    parser.add_argument("--flash-attn", action="store_true", help="use flash attention")
    parser.add_argument("--cache-type-k", help="KV cache type for K: f16 (default), q8_0, q4_0, ...")
    parser.add_argument("--cache-type-v", help="KV cache type for V (quantized needs --flash-attn)")
    parser.add_argument("--batch", type=int, dest="n_batch", help="prompt batch size (default 512)")
    parser.add_argument("--no-mmap", action="store_true", help="read the whole file instead of mapping it")
    parser.add_argument("--mlock", action="store_true", help="lock the model in RAM")
    parser.add_argument("--force", action="store_true", help="load even if the memory estimate says no")


def load_options(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The engine's load options from parsed flags (unset flags are left to the engine)."""
    options: dict[str, Any] = {
        "threads": args.threads, "gpu_layers": args.gpu_layers, "cache_type_k": args.cache_type_k,
        "cache_type_v": args.cache_type_v, "n_batch": args.n_batch,
    }
    if args.flash_attn:
        options["flash_attn"] = True
    if args.no_mmap:
        options["use_mmap"] = False
    if args.mlock:
        options["use_mlock"] = True
    if args.force:
        options["force"] = True
    options.update(extra)
    return {k: v for k, v in options.items() if v is not None}


def resolve_llm(args: argparse.Namespace, purpose: str) -> Path | None:
    """Fill in ``args.model`` (the default for ``purpose`` when unset) and find its file; None after saying why not."""
    from app.default_models import default_model
    from app.model_refs import UnknownModel, resolve_model_ref

    args.model = args.model or default_model("llm", purpose)
    try:
        return resolve_model_ref(args.model, "llm")
    except UnknownModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def model_label(ref: str) -> str:
    """How a model is named in conversations and the history: its id, or the file name for a path."""
    return Path(ref).name if Path(ref).expanduser().exists() else ref


@contextlib.contextmanager
def llm_worker(threads: int | None = None) -> Iterator[WorkerClient]:
    """A started LLM worker that ignores the terminal's Ctrl-C (it reaches the whole process group)."""
    from app.supervisor import start_engine

    with start_engine("llm", threads=threads) as client:
        yield client


def format_stats(metrics: Mapping[str, Any], stop_reason: str | None) -> str:
    """One line: TTFT, generation and prompt speed, tokens, stop reason (and speculation, when on)."""
    def num(key: str, fmt: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else format(float(value), fmt)

    parts = [f"TTFT {num('ttft_ms', '.0f')} ms", f"gen {num('gen_tokens_per_s', '.1f')} tok/s",
             f"prompt {num('prompt_tokens_per_s', '.0f')} tok/s ({num('prompt_tokens', '.0f')} tok"
             + (f", {num('prompt_cached_tokens', '.0f')} cached)" if metrics.get("prompt_cached_tokens") else ")"),
             f"{num('gen_tokens', '.0f')} tokens", f"stop: {stop_reason or '-'}"]
    if metrics.get("draft_tokens"):
        parts.append(f"draft accepted {num('draft_accepted', '.0f')}/{num('draft_tokens', '.0f')}")
    return " · ".join(parts)


class ChatSession:
    """One conversation in the terminal: each turn goes through the model service and is stored."""

    def __init__(self, service: ModelService, history: History, chat_model: ChatModel, *,
                 sampling: Mapping[str, Any], system: str | None = None, conversation_id: str | None = None,
                 echo: bool = True) -> None:
        from app.conversations import ConversationStore

        self.service, self.history, self.chat_model = service, history, chat_model
        self.model_id = chat_model.model_id
        self.sampling = dict(sampling)
        self.echo = echo
        self.store = ConversationStore(history)
        if conversation_id is not None:
            self.conversation = self.store.get(conversation_id)
            if system:
                self.conversation = self.store.update(conversation_id, system_prompt=system)
        else:
            self.conversation = self.store.create(model_id=self.model_id, system_prompt=system,
                                                  settings=self.sampling)

    def ask(self, text: str) -> RunOutcome:
        """Add a user message and answer it."""
        from app.usecases.chat_state import prepare_send

        system = self.store.get(self.conversation.id).system_prompt
        request = prepare_send(self.store, self.conversation.id, text, system_prompt=system,
                               settings=self.sampling, model_id=self.model_id)
        return self._turn(request)

    def answer(self, parent_id: str | None = None) -> RunOutcome:
        """Answer the active path again (or the question ``parent_id``), kept as a branch."""
        from app.usecases.chat_state import prepare_regenerate

        leaf = parent_id or self.store.get(self.conversation.id).active_leaf_id
        if leaf is None:
            raise ValueError("nothing to answer yet")
        system = self.store.get(self.conversation.id).system_prompt
        request = prepare_regenerate(self.store, self.conversation.id, leaf, system_prompt=system,
                                     settings=self.sampling, model_id=self.model_id)
        return self._turn(request)

    def _turn(self, request: PreparedRequest) -> RunOutcome:
        from app.messages import Partial
        from app.service import Loading
        from app.usecases.chat_turn import CRASH_HINT, run_turn

        def show(event: Any) -> None:
            if not self.echo:
                return
            if isinstance(event, Partial):
                sys.stdout.write(str(event.data.get("text", "")))
                sys.stdout.flush()
            elif isinstance(event, Loading) and event.message.startswith("starting"):
                print(f"[{event.message}]", file=sys.stderr)

        turn = run_turn(self.service, self.store, self.chat_model, request, self.sampling, on_event=show)
        outcome = turn.outcome
        if self.echo:
            sys.stdout.write("\n")
        if outcome.status == "crashed":
            kept = " (the answer so far is kept)" if turn.state is not None else ""
            print(f"error: {outcome.error}{kept}\n{CRASH_HINT}", file=sys.stderr)
        elif not outcome.ok and outcome.status != "cancelled":
            print(f"error: {outcome.error or 'no answer'}", file=sys.stderr)
        elif self.echo:
            print(format_stats(outcome.metrics, (outcome.result or {}).get("stop_reason")), file=sys.stderr)
        return outcome


def register(subparsers: Any) -> None:
    """Add the ``chat`` command."""
    parser = subparsers.add_parser("chat", help="chat with a GGUF model (no prompt: interactive session)")
    parser.add_argument("prompt", nargs="?", help="one prompt; leave out for an interactive session")
    add_load_arguments(parser)
    parser.add_argument("--ctx", type=int, help="context size in tokens (default min(4096, the model's))")
    parser.add_argument("--chat-format", help="override the GGUF chat template: chatml, llama-3, gemma, "
                        "mistral-instruct, alpaca, or Jinja text")
    parser.add_argument("--prompt-lookup", type=int, metavar="N",
                        help="prompt-lookup speculative decoding with N draft tokens")
    parser.add_argument("--temp", type=float, help="temperature (default 0.8; 0 = greedy)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling (default 0.95)")
    parser.add_argument("--top-k", type=int, help="top-k sampling (default 40; 0 = off)")
    parser.add_argument("--min-p", type=float, help="min-p sampling (default 0.05)")
    parser.add_argument("--repeat-penalty", type=float, help="repetition penalty (default 1.1)")
    parser.add_argument("--seed", type=int, help="random seed (default: a new one per answer)")
    parser.add_argument("--max-tokens", type=int, help="answer length limit (default 512; 0 = context)")
    parser.add_argument("--stop", action="append", help="stop string (repeatable)")
    parser.add_argument("--system", help="system prompt")
    parser.add_argument("--conversation", metavar="ID", help="continue a stored conversation")
    parser.set_defaults(handler=run)


def sampling_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Sampling settings the user set (others keep the engine's defaults)."""
    sampling = {key: getattr(args, flag) for flag, key, _ in SAMPLING_FLAGS if getattr(args, flag) is not None}
    if args.stop:
        sampling["stop"] = list(args.stop)
    return sampling


def run(args: argparse.Namespace) -> int:
    """Load the model in a worker, then answer one prompt or run the interactive loop."""
    from app.history_open import open_history
    from app.service import ModelService
    from app.usecases.chat_turn import ChatModel

    path = resolve_llm(args, "chat")
    if path is None:
        return 2
    options = load_options(args, n_ctx=args.ctx, chat_format=args.chat_format, prompt_lookup=args.prompt_lookup)
    history = open_history()
    chat_model = ChatModel(str(path), model_label(args.model), args.device, options, args.threads)
    try:
        with ModelService(history) as service:
            loaded = service.load("llm", chat_model.model, device=args.device, options=options,
                                  threads=args.threads).outcome()
            if not loaded.ok:
                what = "the LLM worker crashed while loading" if loaded.status == "crashed" else "cannot load"
                print(f"error: {what} {args.model}: {loaded.error}", file=sys.stderr)
                return 1
            info = loaded.result or {}
            print(f"[{info.get('name')} · {info.get('quantization')} · ctx {info.get('n_ctx')} · "
                  f"{info.get('threads')} thread(s) · {args.device}]", file=sys.stderr)
            session = ChatSession(service, history, chat_model, sampling=sampling_from_args(args),
                                  system=args.system, conversation_id=args.conversation)
            if args.prompt:
                outcome = session.ask(args.prompt)
                stop = (outcome.result or {}).get("stop_reason")
                if outcome.status == "cancelled" or stop == "cancelled":
                    return 130
                return 0 if outcome.ok else 1
            return _interactive(session)
    finally:
        history.close()


def _interactive(session: ChatSession) -> int:
    print(f"conversation {session.conversation.id} — /help for commands", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print("\n(Ctrl-D or /exit to quit)", file=sys.stderr)
            continue
        if not line:
            continue
        try:
            if line.startswith("/"):
                if _command(session, line) == "exit":
                    return 0
                continue
            outcome = session.ask(line)
            if outcome.status == "crashed":
                print("the LLM worker restarts with your next message; the conversation is kept", file=sys.stderr)
        except KeyboardInterrupt:
            print("\n(stopped)", file=sys.stderr)


def _command(session: ChatSession, line: str) -> str | None:
    name, _, rest = line.partition(" ")
    store, conv_id = session.store, session.conversation.id
    if name in ("/exit", "/quit"):
        return "exit"
    if name == "/help":
        print(HELP, file=sys.stderr)
    elif name == "/new":
        system = store.get(conv_id).system_prompt
        session.conversation = store.create(model_id=session.model_id, system_prompt=system,
                                            settings=session.sampling)
        print(f"new conversation {session.conversation.id}", file=sys.stderr)
    elif name == "/system":
        session.conversation = store.update(conv_id, system_prompt=rest)
    elif name == "/regen":
        path = store.path(conv_id)
        if path and path[-1].role == "assistant":
            session.answer(parent_id=path[-1].id)
        else:
            print("nothing to regenerate yet", file=sys.stderr)
    elif name == "/edit":
        users = [m for m in store.path(conv_id) if m.role == "user"]
        if not users or not rest:
            print("usage: /edit NEW TEXT (after at least one message)", file=sys.stderr)
        else:
            store.edit(users[-1].id, rest)
            session.answer()
    elif name == "/branches":
        for index, branch in enumerate(store.branches(conv_id), 1):
            mark = "*" if branch.active else " "
            print(f"{mark} {index}. {branch.messages} messages: {branch.preview}", file=sys.stderr)
    elif name == "/switch" and rest.isdigit():
        branches = store.branches(conv_id)
        if 1 <= int(rest) <= len(branches):
            path = store.switch(conv_id, branches[int(rest) - 1].leaf_id)
            print(f"on branch {rest}: {len(path)} messages", file=sys.stderr)
    elif name == "/export" and rest:
        target = Path(rest).expanduser()
        text = (json.dumps(store.export_json(conv_id), indent=2, default=str) if target.suffix == ".json"
                else store.export_markdown(conv_id))
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
    else:
        print(HELP, file=sys.stderr)
    return None


def demo(history: History) -> None:
    """A short two-turn chat with the starter model, printing the answers and their stats."""
    from app.default_models import spec_default
    from app.model_refs import resolve_model_ref
    from app.service import ModelService
    from app.usecases.chat_turn import ChatModel

    starter = spec_default("llm")
    path = resolve_model_ref(starter, "llm")
    chat_model = ChatModel(str(path), starter, "cpu", {"n_ctx": 1024})
    with ModelService(history) as service:
        loaded = service.load("llm", chat_model.model, options=chat_model.options).outcome()
        if not loaded.ok:
            raise RuntimeError(f"the demo model did not load: {loaded.error}")
        info = loaded.result or {}
        print(f"model: {info['name']} ({info['quantization']}, {info['parameters'] / 1e6:.0f}M parameters, "
              f"{info['file_size'] / 2**20:.0f} MiB), loaded in {info['load_ms']:.0f} ms, "
              f"{info['threads']} thread(s)")
        session = ChatSession(service, history, chat_model,
                              sampling={"temperature": 0.0, "max_tokens": 48, "seed": 1},
                              system="You are a concise assistant. Answer in one sentence.")
        for question in ("What is the capital of France?", "And what is it famous for?"):
            print(f"you> {question}")
            sys.stdout.write("assistant> ")
            outcome = session.ask(question)
            if not outcome.ok:
                raise RuntimeError(f"the demo chat failed: {outcome.error}")
        print(f"conversation {session.conversation.id} stored; export it with the GUI or `/export` in "
              "`workbench chat --conversation ID`")
