"""Run the LLM ``quality`` op for a model, and against a reference model whose logits are cached once.

The reference (say the Q8_0 or F16 of the same model) is scored first in its own worker, which writes its
top-k log-probabilities to ``<data>/cache/quality-reference/<key>.npz``; the key covers the reference file's
fingerprint, the text, ctx, chunk count and k, so any change recomputes it and nothing stale is compared.
Every model compared later reads that file instead of reloading the reference. Both runs are recorded in
the history (the reference's as op ``quality`` with tag ``quality-reference``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.messages import Event

if TYPE_CHECKING:
    from app.history import History
    from app.recording import RunOutcome

DEFAULT_TEXT = Path(__file__).resolve().parents[2] / "resources" / "texts" / "kjv-genesis.txt"
REFERENCE_CACHE = "quality-reference"
REFERENCE_TOP_K = 64
_NATIVE_UBATCH = 512


class QualityError(RuntimeError):
    """A model or the reference could not be loaded or scored; the message says which and why."""


@dataclass
class QualityRequest:
    """What to measure: a model, optionally against a reference, on a text."""

    model: str
    reference: str | None = None
    text_path: Path = DEFAULT_TEXT
    ctx: int = 512
    chunks: int | None = None
    device: str = "cpu"
    threads: int | None = None
    top_k: int = REFERENCE_TOP_K
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class QualityReport:
    """The recorded runs: the model's, and the reference's when it had to be scored in this call."""

    outcome: RunOutcome
    reference_outcome: RunOutcome | None = None
    reference_cache: Path | None = None
    reference_cached: bool = False


def load_options(request: QualityRequest) -> dict[str, Any]:
    """Load settings for scoring: the context is the chunk length and one decode takes a whole chunk."""
    options = {"n_ctx": request.ctx, "n_batch": request.ctx, "n_ubatch": min(_NATIVE_UBATCH, request.ctx),
               **request.options}
    if request.threads:
        options["threads"] = request.threads
    return options


def reference_cache_path(reference: Path, request: QualityRequest) -> Path:
    """Where the reference's logits for this text / ctx / chunks / k live (computed or not)."""
    from app.recording import file_fingerprint
    from core.paths import cache_dir

    digest = hashlib.sha256()
    for part in (file_fingerprint(reference), reference.stat().st_size, _text_digest(request.text_path),
                 request.ctx, request.chunks or "all", request.top_k):
        digest.update(f"{part}\0".encode())
    return cache_dir(REFERENCE_CACHE) / f"{reference.stem}-{digest.hexdigest()[:16]}.npz"


def _text_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _label(ref: str) -> str:
    # As the chat command names models: the id typed, or the file name for a path.
    return Path(ref).name if Path(ref).expanduser().exists() else ref


def _score(model: Path, label: str, request: QualityRequest, params: dict[str, Any], history: History, *,
           tags: Sequence[str], compare_id: str | None, on_event: Callable[[Event], None] | None,
           on_start: Callable[[str, Any], None] | None) -> RunOutcome:
    from app.errors import EngineDeadError, RequestFailed
    from app.recording import run_recorded
    from app.supervisor import start_engine

    with start_engine("llm", threads=request.threads) as client:
        try:
            client.load(str(model), request.device, load_options(request))
        except (RequestFailed, EngineDeadError) as exc:
            raise QualityError(f"cannot load {model.name}: {exc}") from exc
        return run_recorded(client, "quality", params, history=history, engine="llm",
                            model_id=label, device=request.device, tags=tags,
                            compare_id=compare_id, on_event=on_event, on_start=on_start)


def measure_llm_quality(request: QualityRequest, history: History, *, compare_id: str | None = None,
                        tags: Sequence[str] = (), on_event: Callable[[Event], None] | None = None,
                        on_start: Callable[[str, Any], None] | None = None) -> QualityReport:
    """Score ``request.model`` (after scoring and caching the reference if it is not cached yet)."""
    from app.model_refs import UnknownModel, resolve_model_ref

    try:
        model = resolve_model_ref(request.model, "llm")
        reference = resolve_model_ref(request.reference, "llm") if request.reference else None
    except UnknownModel as exc:
        raise QualityError(str(exc)) from exc
    if not request.text_path.is_file():
        raise QualityError(f"no text file {request.text_path}")
    params: dict[str, Any] = {"text_path": str(request.text_path), "ctx": request.ctx}
    if request.chunks:
        params["chunks"] = request.chunks
    report_ref: RunOutcome | None = None
    cache: Path | None = None
    cached = False
    if reference is not None:
        cache = reference_cache_path(reference, request)
        cached = cache.is_file()
        if not cached:
            writing = {**params, "write_reference": str(cache), "top_k": request.top_k}
            report_ref = _score(reference, _label(str(request.reference)), request, writing, history,
                                tags=(*tags, "quality-reference"), compare_id=compare_id, on_event=on_event,
                                on_start=on_start)
            if not report_ref.ok:
                raise QualityError(f"scoring the reference {reference.name} {report_ref.status}: "
                                   f"{report_ref.error}")
        params = {"reference": str(cache), "ctx": request.ctx}
        if request.chunks:
            params["chunks"] = request.chunks
    outcome = _score(model, _label(request.model), request, params, history, tags=tags, compare_id=compare_id,
                     on_event=on_event, on_start=on_start)
    return QualityReport(outcome, report_ref, cache, cached)
