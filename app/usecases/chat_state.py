"""What the Chat page shows of a conversation, built from the store in a background task (no Qt here).

Each function takes a :class:`app.conversations.ConversationStore` and returns plain data; the page runs
them on the task runner so no database work happens on the UI thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.conversations import Conversation, ConversationStore, Message


@dataclass(frozen=True)
class ViewMessage:
    """One message on the active branch, with its place among its alternatives."""

    id: str
    role: str
    content: str
    model_id: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    siblings: tuple[str, ...] = ()  # ids of the alternatives at this place, oldest first (itself included)

    @property
    def branch_index(self) -> int:
        """1-based position among the alternatives."""
        return self.siblings.index(self.id) + 1 if self.id in self.siblings else 1


@dataclass(frozen=True)
class ConversationState:
    """A conversation as the page shows it: its row, the active branch and the context in use."""

    conversation: Conversation
    messages: tuple[ViewMessage, ...]
    branch_count: int = 1

    @property
    def id(self) -> str:
        """The conversation id."""
        return self.conversation.id

    @property
    def context_used(self) -> int | None:
        """Tokens of context the last answer left in use (from its stats)."""
        for message in reversed(self.messages):
            used = message.stats.get("context_used")
            if isinstance(used, int):
                return used
        return None

    @property
    def last(self) -> ViewMessage | None:
        """The active leaf."""
        return self.messages[-1] if self.messages else None


@dataclass(frozen=True)
class PreparedRequest:
    """A conversation ready for an answer: its state, where the answer goes and what the model sees."""

    state: ConversationState
    parent_id: str
    messages: list[dict[str, str]]


def _state(store: ConversationStore, conversation_id: str, leaf_id: str | None = None) -> ConversationState:
    conversation = store.get(conversation_id)
    everything = store.messages(conversation_id)
    by_parent: dict[str | None, list[Message]] = {}
    for message in everything:
        by_parent.setdefault(message.parent_id, []).append(message)
    path = store.path(conversation_id, leaf_id) if (leaf_id or conversation.active_leaf_id) else []
    view = tuple(
        ViewMessage(m.id, m.role, m.content, m.model_id, dict(m.stats),
                    tuple(s.id for s in by_parent.get(m.parent_id, [m])))
        for m in path
    )
    parents = {m.parent_id for m in everything}
    leaves = sum(1 for m in everything if m.id not in parents)
    return ConversationState(conversation, view, max(leaves, 1))


def load_state(store: ConversationStore, conversation_id: str) -> ConversationState:
    """The conversation with its active branch."""
    return _state(store, conversation_id)


def new_conversation(store: ConversationStore, *, system_prompt: str | None, settings: Mapping[str, Any],
                     model_id: str | None) -> ConversationState:
    """An empty conversation."""
    conversation = store.create(system_prompt=system_prompt or None, settings=settings, model_id=model_id)
    return _state(store, conversation.id)


def prepare_send(store: ConversationStore, conversation_id: str | None, text: str, *,
                 system_prompt: str | None, settings: Mapping[str, Any], model_id: str | None,
                 edit_of: str | None = None) -> PreparedRequest:
    """Store the user's message (a new branch when it edits ``edit_of``) and build the model's context."""
    if conversation_id is None:
        conversation_id = store.create(system_prompt=system_prompt or None, settings=settings,
                                       model_id=model_id).id
    else:
        store.update(conversation_id, system_prompt=system_prompt or "", settings=settings, model_id=model_id)
    message = store.edit(edit_of, text) if edit_of is not None else store.append(conversation_id, "user", text)
    return PreparedRequest(_state(store, conversation_id), message.id, store.context(conversation_id, message.id))


def prepare_regenerate(store: ConversationStore, conversation_id: str, message_id: str, *,
                       system_prompt: str | None, settings: Mapping[str, Any],
                       model_id: str | None) -> PreparedRequest:
    """A fresh answer in place of ``message_id`` (an answer), or to it (a user message left unanswered)."""
    store.update(conversation_id, system_prompt=system_prompt or "", settings=settings, model_id=model_id)
    message = store.message(message_id)
    parent_id = message.id if message.role == "user" else store.regenerate_parent(message_id)
    if parent_id is None:
        raise ValueError("this answer has no question to answer again")
    state = _state(store, conversation_id, parent_id)
    return PreparedRequest(state, parent_id, store.context(conversation_id, parent_id))


def save_answer(store: ConversationStore, conversation_id: str, parent_id: str, text: str, *,
                stats: Mapping[str, Any], run_id: str | None, model_id: str | None,
                params: Mapping[str, Any]) -> ConversationState:
    """Store an answer under ``parent_id`` (it becomes the active leaf) and return the new state."""
    store.append(conversation_id, "assistant", text, parent_id=parent_id, stats=stats, run_id=run_id or None,
                 model_id=model_id, params=params)
    return _state(store, conversation_id)


def switch_branch(store: ConversationStore, conversation_id: str, message_id: str) -> ConversationState:
    """Make the branch through ``message_id`` the active one."""
    store.switch(conversation_id, message_id)
    return _state(store, conversation_id)
