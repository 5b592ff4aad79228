"""One chat turn, the same from the CLI, the GUI and the server: generate, then store the answer.

The stored shape of an answer (its text and ``stats``) is decided here only, so a conversation started in
one front end reads the same in another. A stopped answer keeps what was written; so does one whose
worker crashed, marked as interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.recording import RunOutcome, RunStatus
from app.usecases.chat_state import ConversationState, PreparedRequest, save_answer
from engines.llm.types import ChatPartial, ChatResult

if TYPE_CHECKING:
    from app.conversations import ConversationStore
    from app.service import ModelService, Ticket
    from app.service.tickets import TicketEvent

STAT_METRICS = ("ttft_ms", "gen_tokens_per_s", "tpot_ms", "e2e_ms", "prompt_tokens", "prompt_tokens_per_s")
CRASH_NOTE = "interrupted: worker crashed"
CRASH_HINT = "The worker stopped mid-answer; what it wrote is kept. Regenerate for a new answer, or ask it to continue."


def answer_stats(result: ChatResult | Mapping[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The stats stored with an answer, picked from an engine result."""
    metrics = result.get("metrics") or {}
    stats: dict[str, Any] = {key: metrics[key] for key in STAT_METRICS if isinstance(metrics.get(key), int | float)}
    stats["gen_tokens"] = int(result.get("gen_tokens") or metrics.get("gen_tokens") or 0)
    stats["stop_reason"] = result.get("stop_reason")
    for key in ("context_used", "n_ctx"):
        value = result.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            stats[key] = int(value)
    if run_id:
        stats["run_id"] = run_id
    return stats


def streamed_text(partials: Sequence[ChatPartial | Mapping[str, Any]]) -> str:
    """The answer as far as it was streamed."""
    return "".join(str(p.get("text") or "") for p in partials)


@dataclass(frozen=True)
class AnswerToStore:
    """What goes into the conversation for one outcome."""

    text: str
    stats: dict[str, Any]


def answer_to_store(outcome: RunOutcome, partials: Sequence[Mapping[str, Any]]) -> AnswerToStore | None:
    """The answer to keep for ``outcome`` (None when there is nothing to keep: a failure before any text)."""
    result = dict(outcome.result or {})
    text = str(result.get("text") or streamed_text(partials))
    if outcome.status == RunStatus.OK:
        return AnswerToStore(text, answer_stats(result, outcome.run_id))
    if not text:
        return None
    if outcome.status == RunStatus.CANCELLED:
        stats = answer_stats(result, outcome.run_id)
        stats["stop_reason"] = "cancelled"
        if not stats["gen_tokens"]:
            stats["gen_tokens"] = sum(1 for p in partials if p.get("text"))
        return AnswerToStore(text, stats)
    if outcome.status == RunStatus.CRASHED:
        stats = {"gen_tokens": sum(1 for p in partials if p.get("text")), "stop_reason": "crashed",
                 "interrupted": CRASH_NOTE, "error": outcome.error or ""}
        if outcome.run_id:
            stats["run_id"] = outcome.run_id
        return AnswerToStore(text, stats)
    return None


def store_outcome(store: ConversationStore, request: PreparedRequest, outcome: RunOutcome,
                  partials: Sequence[Mapping[str, Any]], *, model_id: str | None,
                  params: Mapping[str, Any]) -> ConversationState | None:
    """Store what ``outcome`` leaves as the answer to ``request``; returns the new state (None: nothing kept)."""
    answer = answer_to_store(outcome, partials)
    if answer is None:
        return None
    return save_answer(store, request.state.id, request.parent_id, answer.text, stats=answer.stats,
                       run_id=outcome.run_id or None, model_id=model_id, params=params)


@dataclass(frozen=True)
class ChatModel:
    """Which model answers, and how it is loaded."""

    model: str  # a path or a model id
    model_id: str  # the label stored with runs and answers
    device: str = "cpu"
    options: Mapping[str, Any] | None = None
    threads: int | None = None


def submit_turn(service: ModelService, chat_model: ChatModel, request: PreparedRequest,
                sampling: Mapping[str, Any], *, on_event: Callable[[TicketEvent], None] | None = None,
                tags: tuple[str, ...] = ()) -> Ticket:
    """Start generating the answer to ``request`` (the model loads first when it must)."""
    params = {**dict(sampling), "messages": request.messages}
    return service.submit("llm", chat_model.model, "chat", params, device=chat_model.device,
                          options=chat_model.options, threads=chat_model.threads, model_id=chat_model.model_id,
                          tags=tags, on_event=on_event)


@dataclass(frozen=True)
class TurnResult:
    """A finished turn: how the run went and what was stored."""

    outcome: RunOutcome
    state: ConversationState | None
    text: str


def run_turn(service: ModelService, store: ConversationStore, chat_model: ChatModel, request: PreparedRequest,
             sampling: Mapping[str, Any], *, on_event: Callable[[TicketEvent], None] | None = None) -> TurnResult:
    """Generate and store one answer, blocking (the CLI's form of a turn)."""
    ticket = submit_turn(service, chat_model, request, sampling, on_event=on_event)
    try:
        outcome = ticket.outcome()
    except BaseException:
        ticket.cancel()  # Ctrl-C: stop the answer; what was written is kept below
        outcome = ticket.outcome(60)
    state = store_outcome(store, request, outcome, ticket.partials, model_id=chat_model.model_id, params=sampling)
    text = state.messages[-1].content if state is not None and state.messages else streamed_text(ticket.partials)
    return TurnResult(outcome, state, text)
