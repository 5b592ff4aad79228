"""``workbench models``: search the Hub, list a repository's files with fit verdicts, pull, list, remove,
import and scan models, and keep the Hub token."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.models.api import ModelManager
    from app.models.download import DownloadProgress
    from app.models.importing import ImportReport


def register(subparsers: Any) -> None:
    """Add the ``models`` command group."""
    parser = subparsers.add_parser("models", help="find, download, import and manage models")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    search = commands.add_parser("search", help="search the Hugging Face Hub")
    search.add_argument("query")
    search.add_argument("--kind", choices=("llm", "vision"), default="llm",
                        help="llm: GGUF repositories; vision: timm image classifiers (default llm)")
    search.add_argument("--sort", choices=("downloads", "likes", "updated"), default="downloads")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    _insecure_token_flag(search)
    search.set_defaults(handler=_search)

    files = commands.add_parser("files", help="a repository's files, quantizations and fit verdicts")
    files.add_argument("repo", metavar="REPO")
    files.add_argument("--revision", help="branch, tag or commit (default main)")
    files.add_argument("--ctx", type=int, default=None, help="context length the LLM verdict assumes")
    files.add_argument("--json", action="store_true")
    _insecure_token_flag(files)
    files.set_defaults(handler=_files)

    pull = commands.add_parser("pull", help="download, verify and register a model")
    pull.add_argument("repo", metavar="REPO", help="owner/name on the Hub, or the id of a model pulled before "
                      "(to --repair or update it)")
    pull.add_argument("file", metavar="FILE", nargs="?", help="the file to get (default: the best GGUF "
                      "quant, or the safetensors checkpoint and its config)")
    pull.add_argument("--revision", help="branch, tag or commit (default main)")
    pull.add_argument("--restart", action="store_true",
                      help="discard a partial download and start from the first byte")
    pull.add_argument("--repair", action="store_true",
                      help="re-verify cached files and download again any that fail their checksum")
    _insecure_token_flag(pull)
    pull.set_defaults(handler=_pull)

    listing = commands.add_parser("list", help="installed and registered models")
    listing.add_argument("--kind", choices=("llm", "vision", "bayes", "other"))
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--verify", action="store_true",
                         help="also re-hash every registered file against its SHA-256 (slow for big models)")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="everything known about one model")
    show.add_argument("id", metavar="ID")
    show.set_defaults(handler=_show)

    remove = commands.add_parser("rm", help="remove a model (deletes files the workbench downloaded)")
    remove.add_argument("id", metavar="ID")
    keep = remove.add_mutually_exclusive_group()
    keep.add_argument("--keep-files", action="store_true", help="unregister only")
    keep.add_argument("--delete-files", action="store_true",
                      help="also delete a model found in the Hugging Face cache by scan")
    remove.set_defaults(handler=_remove)

    importing = commands.add_parser("import", help="register a model file or folder in place")
    importing.add_argument("path", metavar="PATH")
    importing.add_argument("--kind", choices=("llm", "vision", "bayes", "other"),
                           help="override the detected kind")
    importing.add_argument("--sha256", action="store_true", help="compute and store the SHA-256")
    importing.set_defaults(handler=_import)

    scan = commands.add_parser("scan", help="register models of LM Studio, Ollama and the HF cache")
    scan.add_argument("--lmstudio", action="append", type=Path, metavar="DIR",
                      help="LM Studio models folder (repeatable; default the two standard ones)")
    scan.add_argument("--ollama", type=Path, metavar="DIR", help="Ollama models folder")
    scan.add_argument("--hf-cache", type=Path, metavar="DIR", help="Hugging Face hub cache folder")
    scan.set_defaults(handler=_scan)

    token = commands.add_parser("token", help="the Hugging Face token (for gated or private models)",
                                usage="workbench models token {set,clear,status}",
                                description="set reads the token from the terminal (no echo) or stdin, "
                                            "never from the command line")
    # Everything after `token` is taken as words and checked here, so that a token typed on the command line
    # never reaches argparse, whose errors repeat the arguments they refuse.
    token.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    token.set_defaults(handler=_token)


def _insecure_token_flag(parser: Any) -> None:
    from app.models.hub import INSECURE_TOKEN_ENV, INSECURE_TOKEN_FLAG

    parser.add_argument(INSECURE_TOKEN_FLAG, action="store_true",
                        help="send the Hub token even to a plain-http HF_ENDPOINT on another machine "
                             f"(also: {INSECURE_TOKEN_ENV}=1)")


def _handled(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from app.models.errors import ModelError

        try:
            return action(args)
        except ModelError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1

    return run


def _manager(args: argparse.Namespace | None = None) -> ModelManager:
    from app.models.api import ModelManager
    from app.models.hub import HubClient

    allow = bool(getattr(args, "allow_insecure_token", False))
    return ModelManager(hub=HubClient(allow_insecure_token=allow))


@_handled
def _search(args: argparse.Namespace) -> int:
    from app.models.hub import HubClient

    client = HubClient(allow_insecure_token=args.allow_insecure_token)
    repos = client.search(args.query, kind=args.kind, sort=args.sort, limit=args.limit)
    if args.json:
        print(json.dumps([{"repo": r.id, "downloads": r.downloads, "likes": r.likes,
                           "updated": r.updated.isoformat() if r.updated else None} for r in repos], indent=2))
        return 0
    if not repos:
        print(f"no {args.kind} repositories match {args.query!r}")
        return 0
    from app.text_table import format_table

    rows = [(r.id, f"{r.downloads:,}", f"{r.likes:,}", r.updated.date().isoformat() if r.updated else "")
            for r in repos]
    print(format_table(("repo", "downloads", "likes", "updated"), rows, align_right=(1, 2)))
    return 0


@_handled
def _files(args: argparse.Namespace) -> int:
    from app.models.fit import DEFAULT_CONTEXT
    from app.text_table import format_table, human_bytes

    with _manager(args) as manager:
        listing = manager.files(args.repo, revision=args.revision, n_ctx=args.ctx or DEFAULT_CONTEXT)
    if args.json:
        print(json.dumps({
            "repo": listing.repo.repo, "commit": listing.repo.commit, "free_ram": listing.free_ram,
            "free_vram": listing.free_vram, "n_ctx": listing.n_ctx,
            "files": [{"file": row.file.filename, "size": row.file.size, "sha256": row.file.sha256,
                       "quant": row.file.quant, "model_size": row.model_size,
                       "required_bytes": row.fit.required_bytes if row.fit else None,
                       "verdict": str(row.fit.verdict) if row.fit else None} for row in listing.rows],
        }, indent=2))
        return 0
    rows = []
    for row in listing.rows:
        part = f" (part {row.file.shard[1]}/{row.file.shard[2]})" if row.file.shard else ""
        needs = f"~{human_bytes(row.fit.required_bytes)}" if row.fit else ""
        rows.append((row.file.filename + part, human_bytes(row.file.size), row.file.quant or "", needs,
                     str(row.fit.verdict) if row.fit else ""))
    print(format_table(("file", "size", "quant", "needs", "fit"), rows, align_right=(1, 3)))
    vram = human_bytes(listing.free_vram) if listing.free_vram is not None else "no GPU"
    print(f"\nfree RAM {human_bytes(listing.free_ram)}, free VRAM {vram}; LLM estimates assume a "
          f"{listing.n_ctx}-token context (weights + KV cache + runtime buffers)")
    return 0


class _ProgressPrinter:
    """One progress line on stderr: rewritten in place on a terminal, a line per 25% otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_step: dict[str, int] = {}
        self.last_phase = ""

    def __call__(self, progress: DownloadProgress) -> None:
        from app.text_table import human_bytes

        if progress.message:
            # Retries, waits and oddities of the server get a line of their own (not overwritten).
            print(("\n" if self.tty and self.last_phase else "") + progress.message, file=sys.stderr, flush=True)
            self.last_phase = ""
            return
        total = progress.total_bytes
        percent = f"{100 * progress.done_bytes / total:5.1f}%" if total else ""
        rate = f"{human_bytes(progress.rate_bytes_per_s)}/s" if progress.rate_bytes_per_s else ""
        eta = f"ETA {_duration(progress.eta_s)}" if progress.eta_s is not None else ""
        line = f"{progress.phase:11} {progress.filename}  {human_bytes(progress.done_bytes)} / " \
               f"{human_bytes(total)}  {percent}  {rate}  {eta}".rstrip()
        if self.tty:
            end = "\n" if progress.phase == "done" else ""
            print("\r" + line.ljust(100), end=end, file=sys.stderr, flush=True)
            return
        step = int(4 * progress.done_bytes / total) if total else 0
        key = f"{progress.filename}:{progress.phase}"
        if progress.phase != self.last_phase or self.last_step.get(key) != step or progress.phase == "done":
            self.last_step[key] = step
            self.last_phase = progress.phase
            print(line, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@_handled
def _pull(args: argparse.Namespace) -> int:
    from app.text_table import human_bytes

    started = time.monotonic()
    with _manager(args) as manager:
        repo, file, revision = args.repo, args.file, args.revision
        known = manager.get(repo) if "/" not in repo and file is None else None
        if known is not None and known.source == "hub" and known.repo and known.filename:
            # A registered id stands for the repository file it was pulled from.
            repo, file = known.repo, known.filename
            revision = revision or known.meta.get("requested_revision")
        try:
            result = manager.pull(repo, file, revision=revision, on_progress=_ProgressPrinter(),
                                  restart=args.restart, repair=args.repair)
        except KeyboardInterrupt:
            print("\ncancelled: the partial download is kept; run the same pull again to resume",
                  file=sys.stderr)
            return 130
    record = result.record
    fetched = sum(f.downloaded_bytes for f in result.files)
    resumed = sum(f.resumed_from for f in result.files)
    note = f", resumed after {human_bytes(resumed)}" if resumed else ""
    print(f"{'registered' if result.created else 'updated'} {record.id}: {record.kind} {record.format} "
          f"{record.quant or ''} {human_bytes(record.size_bytes)} (downloaded {human_bytes(fetched)} in "
          f"{time.monotonic() - started:.1f} s{note}; SHA-256 verified)")
    print(f"  {record.path}")
    print(f"  run it with: -m {record.id}")
    return 0


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else ""


@_handled
def _list(args: argparse.Namespace) -> int:
    from app.models.integrity import repair_hint
    from app.text_table import format_table, human_bytes

    with _manager() as manager:
        records = manager.list(args.kind)
        health = {r.id: manager.health(r, deep=args.verify) for r in records}
    if args.json:
        print(json.dumps([r.to_dict() | {"exists": r.exists, "status": health[r.id].status,
                                         "problem": health[r.id].problem} for r in records],
                         indent=2, default=str))
        return 0
    rows = []
    for r in records:
        path = r.path or f"(package {r.repo}; assembled on first use)"
        status = health[r.id].status
        if status != "ok":
            path = f"{status.upper()} {path}"
        rows.append((r.id, r.kind, r.format, r.quant or "", human_bytes(r.size_bytes), path, r.source,
                     _when(r.last_used_at)))
    print(format_table(("id", "kind", "format", "quant", "size", "path", "source", "last used"), rows,
                       align_right=(4,)))
    for r in records:
        if health[r.id].status == "damaged":
            print(f"  {r.id} is damaged ({health[r.id].problem}); fix: {repair_hint(r)}", file=sys.stderr)
    return 0


@_handled
def _show(args: argparse.Namespace) -> int:
    from app.models.errors import ModelError, Reason

    with _manager() as manager:
        record = manager.get(args.id)
    if record is None:
        raise ModelError(Reason.NOT_FOUND, f"no registered model {args.id!r} (see: workbench models list)")
    print(json.dumps(record.to_dict() | {"exists": record.exists}, indent=2, default=str))
    return 0


@_handled
def _remove(args: argparse.Namespace) -> int:
    from app.text_table import human_bytes

    delete = False if args.keep_files else (True if args.delete_files else None)
    with _manager() as manager:
        result = manager.remove(args.id, delete_files=delete)
    print(f"removed {result.record.id}: freed {human_bytes(result.freed_bytes)}")
    if result.note:
        print(f"  {result.note}")
    return 0


def _print_report(report: ImportReport, verb: str) -> None:
    from app.text_table import format_table, human_bytes

    rows = [(r.id, r.kind, r.format, r.quant or "", human_bytes(r.size_bytes), r.source, r.path)
            for r in report.added + report.updated]
    if rows:
        print(format_table(("id", "kind", "format", "quant", "size", "source", "path"), rows, align_right=(4,)))
    print(f"{verb} {len(report.added)} new, {len(report.updated)} already registered, "
          f"{len(report.skipped)} skipped")
    for path, reason in report.skipped:
        print(f"  skipped {path}: {reason}", file=sys.stderr)


@_handled
def _import(args: argparse.Namespace) -> int:
    def progress(name: str, done: int, total: int) -> None:
        print(f"\rhashing {name} {100 * done / max(total, 1):5.1f}%", end="", file=sys.stderr, flush=True)

    with _manager() as manager:
        report = manager.import_path(args.path, kind=args.kind, compute_sha256=args.sha256, on_progress=progress)
    if args.sha256:
        print(file=sys.stderr)
    _print_report(report, "imported")
    return 0


@_handled
def _scan(args: argparse.Namespace) -> int:
    from app.models.scan import ScanRoots, default_roots

    defaults = default_roots()
    roots = ScanRoots(lmstudio=tuple(args.lmstudio) if args.lmstudio else defaults.lmstudio,
                      ollama=args.ollama or defaults.ollama, hf_cache=args.hf_cache or defaults.hf_cache)
    with _manager() as manager:
        report = manager.scan(roots)
    _print_report(report, "scan found")
    return 0


@_handled
def _token(args: argparse.Namespace) -> int:
    from app.models import tokens
    from app.models.errors import ModelError, Reason

    words = list(args.words)
    action = words[0] if words else ""
    if action not in ("set", "clear", "status") or len(words) > 1:
        # Never repeat the words: one of them may be the token itself.
        hint = " (the token is not taken from the command line, where ps and the shell history keep it: " \
               "run `workbench models token set` and paste it at the prompt, or pipe it on stdin)" \
            if action == "set" or len(words) > 1 else ""
        raise ModelError(Reason.BAD_INPUT, f"usage: workbench models token {{set,clear,status}}{hint}")
    if action == "status":
        token = tokens.load_token()
        where = f" ({tokens.token_path()})" if token else ""
        print(f"Hugging Face token: {tokens.mask(token)}{where}")
        return 0
    if action == "clear":
        print("token removed" if tokens.clear_token() else "no token was stored")
        return 0
    # Read from the terminal without echo, or from stdin: never from the command line, where ps shows it.
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass("Hugging Face token: ")
    else:
        value = sys.stdin.readline()
    path = tokens.save_token(value)
    print(f"token {tokens.mask(value.strip())} stored in {path} (readable by you only)")
    return 0
