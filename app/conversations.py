"""Chat conversations in the history database: a tree of messages per conversation, with branches.

Every message points at its parent, so editing an earlier user message or regenerating an answer adds a
sibling instead of overwriting: the old branch stays. A conversation remembers its active leaf; the path
from the root to that leaf is what the model sees as context. Extra fields live in the JSON columns
(``settings``, ``meta``, ``params``, ``stats``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.history import History

ROLES = ("system", "user", "assistant")
_TITLE_CHARS = 60


class ConversationNotFound(KeyError):
    """No conversation or message with that id."""


@dataclass(frozen=True)
class Message:
    """One message of a conversation tree."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    content: str
    created_at: float
    model_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    """A conversation's own row."""

    id: str
    title: str
    created_at: float
    updated_at: float
    model_id: str | None = None
    system_prompt: str | None = None
    active_leaf_id: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Branch:
    """One leaf of the tree and where it splits off: what a branch picker shows."""

    leaf_id: str
    messages: int
    active: bool
    updated_at: float
    preview: str


def _json(value: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(value or {}), default=str)


def _obj(text: str | None) -> dict[str, Any]:
    loaded = json.loads(text) if text else {}
    return loaded if isinstance(loaded, dict) else {}


def _message(row: Mapping[str, Any]) -> Message:
    return Message(
        id=row["id"], conversation_id=row["conversation_id"], parent_id=row["parent_id"], role=row["role"],
        content=row["content"], created_at=row["created_at"], model_id=row["model_id"],
        params=_obj(row["params"]), stats=_obj(row["stats"]), run_id=row["run_id"], meta=_obj(row["meta"]),
    )


def _conversation(row: Mapping[str, Any]) -> Conversation:
    return Conversation(
        id=row["id"], title=row["title"], created_at=row["created_at"], updated_at=row["updated_at"],
        model_id=row["model_id"], system_prompt=row["system_prompt"], active_leaf_id=row["active_leaf_id"],
        settings=_obj(row["settings"]), meta=_obj(row["meta"]),
    )


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    """Create, list, search, branch and export conversations; every call is one locked transaction."""

    def __init__(self, history: History) -> None:
        self._history = history
        self._db = history.db

    # --- conversations --------------------------------------------------------------------------
    def create(self, title: str | None = None, *, model_id: str | None = None,
               system_prompt: str | None = None, settings: Mapping[str, Any] | None = None,
               meta: Mapping[str, Any] | None = None) -> Conversation:
        """Start an empty conversation (the title defaults to the first user message)."""
        now = time.time()
        row = {"id": uuid.uuid4().hex, "title": title or "", "created_at": now, "updated_at": now,
               "model_id": model_id, "system_prompt": system_prompt, "active_leaf_id": None,
               "settings": _json(settings), "meta": _json({**dict(meta or {}), "auto_title": not title})}
        with self._history.lock, self._db.conn:
            self._db.table("conversations").insert(row)
        return _conversation(row)

    def get(self, conversation_id: str) -> Conversation:
        """One conversation; ConversationNotFound when unknown."""
        with self._history.lock:
            rows = list(self._db.query("SELECT * FROM conversations WHERE id = ?", [conversation_id]))
        if not rows:
            raise ConversationNotFound(conversation_id)
        return _conversation(rows[0])

    def conversations(self, *, limit: int | None = None, search: str | None = None) -> list[Conversation]:
        """Conversations, most recently updated first; ``search`` matches titles and message text."""
        sql = "SELECT * FROM conversations"
        args: list[Any] = []
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (" WHERE title LIKE ? ESCAPE '\\' OR id IN (SELECT conversation_id FROM messages "
                    "WHERE content LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        sql += " ORDER BY updated_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._history.lock:
            return [_conversation(row) for row in self._db.query(sql, args)]

    def search(self, text: str, *, limit: int | None = None) -> list[Conversation]:
        """Conversations whose title or any message contains ``text`` (case-insensitive for ASCII)."""
        return self.conversations(limit=limit, search=text)

    def rename(self, conversation_id: str, title: str) -> Conversation:
        """Give a conversation a title of the user's choosing."""
        conversation = self.get(conversation_id)
        meta = {**conversation.meta, "auto_title": False}
        self._update(conversation_id, title=title.strip() or conversation.title, meta=_json(meta))
        return self.get(conversation_id)

    def update(self, conversation_id: str, *, model_id: str | None = None, system_prompt: str | None = None,
               settings: Mapping[str, Any] | None = None) -> Conversation:
        """Change the model, system prompt or settings (merged into the stored ones)."""
        conversation = self.get(conversation_id)
        changes: dict[str, Any] = {}
        if model_id is not None:
            changes["model_id"] = model_id
        if system_prompt is not None:
            changes["system_prompt"] = system_prompt
        if settings is not None:
            changes["settings"] = _json({**conversation.settings, **settings})
        if changes:
            self._update(conversation_id, **changes)
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> None:
        """Remove a conversation and all its messages."""
        self.get(conversation_id)
        with self._history.lock, self._db.conn:
            self._db.execute("DELETE FROM messages WHERE conversation_id = ?", [conversation_id])
            self._db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])

    def _update(self, conversation_id: str, **changes: Any) -> None:
        changes.setdefault("updated_at", time.time())
        with self._history.lock, self._db.conn:
            self._db.table("conversations").update(conversation_id, changes)

    # --- messages -------------------------------------------------------------------------------
    def append(self, conversation_id: str, role: str, content: str, *, parent_id: str | None = None,
               after_active: bool = True, model_id: str | None = None,
               params: Mapping[str, Any] | None = None, stats: Mapping[str, Any] | None = None,
               run_id: str | None = None, meta: Mapping[str, Any] | None = None) -> Message:
        """Add a message under ``parent_id`` (default: the active leaf) and make it the active leaf."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        conversation = self.get(conversation_id)
        if parent_id is None and after_active:
            parent_id = conversation.active_leaf_id
        if parent_id is not None and self.message(parent_id).conversation_id != conversation_id:
            raise ValueError(f"message {parent_id} belongs to another conversation")
        now = time.time()
        row = {"id": uuid.uuid4().hex, "conversation_id": conversation_id, "parent_id": parent_id,
               "role": role, "content": content, "model_id": model_id, "params": _json(params),
               "stats": _json(stats), "run_id": run_id, "created_at": now, "meta": _json(meta)}
        changes: dict[str, Any] = {"active_leaf_id": row["id"], "updated_at": now}
        if role == "user" and conversation.meta.get("auto_title", True) and not conversation.title:
            changes["title"] = _title_from(content)
        with self._history.lock, self._db.conn:
            self._db.table("messages").insert(row)
            self._db.table("conversations").update(conversation_id, changes)
        return _message(row)

    def message(self, message_id: str) -> Message:
        """One message; ConversationNotFound when unknown."""
        with self._history.lock:
            rows = list(self._db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        if not rows:
            raise ConversationNotFound(message_id)
        return _message(rows[0])

    def update_message(self, message_id: str, *, stats: Mapping[str, Any] | None = None,
                       run_id: str | None = None, meta: Mapping[str, Any] | None = None) -> Message:
        """Attach stats, the run id or extra fields to a message (its text never changes: edit branches)."""
        current = self.message(message_id)
        changes: dict[str, Any] = {}
        if stats is not None:
            changes["stats"] = _json({**current.stats, **stats})
        if run_id is not None:
            changes["run_id"] = run_id
        if meta is not None:
            changes["meta"] = _json({**current.meta, **meta})
        if changes:
            with self._history.lock, self._db.conn:
                self._db.table("messages").update(message_id, changes)
        return self.message(message_id)

    def messages(self, conversation_id: str) -> list[Message]:
        """Every message of the conversation (all branches), oldest first."""
        with self._history.lock:
            rows = self._db.query("SELECT * FROM messages WHERE conversation_id = ? "
                                  "ORDER BY created_at, rowid", [conversation_id])
            return [_message(row) for row in rows]

    def children(self, message_id: str | None, conversation_id: str | None = None) -> list[Message]:
        """Replies to a message (``None``: the roots of ``conversation_id``), oldest first."""
        with self._history.lock:
            if message_id is None:
                rows = self._db.query("SELECT * FROM messages WHERE conversation_id = ? "
                                      "AND parent_id IS NULL ORDER BY created_at, rowid", [conversation_id])
            else:
                rows = self._db.query("SELECT * FROM messages WHERE parent_id = ? ORDER BY created_at, rowid",
                                      [message_id])
            return [_message(row) for row in rows]

    def siblings(self, message_id: str) -> list[Message]:
        """The alternatives at a message's place in the tree (itself included), oldest first."""
        message = self.message(message_id)
        return self.children(message.parent_id, message.conversation_id)

    def path(self, conversation_id: str, leaf_id: str | None = None) -> list[Message]:
        """Messages from the root to ``leaf_id`` (default: the active leaf)."""
        if leaf_id is None:
            leaf_id = self.get(conversation_id).active_leaf_id
        by_id = {m.id: m for m in self.messages(conversation_id)}
        chain: list[Message] = []
        current = by_id.get(leaf_id) if leaf_id else None
        if leaf_id and current is None:
            raise ConversationNotFound(leaf_id)
        while current is not None:
            chain.append(current)
            current = by_id.get(current.parent_id) if current.parent_id else None
        return chain[::-1]

    def context(self, conversation_id: str, leaf_id: str | None = None) -> list[dict[str, str]]:
        """The chat messages a model gets: the system prompt, then the path to the leaf."""
        conversation = self.get(conversation_id)
        out = []
        if conversation.system_prompt:
            out.append({"role": "system", "content": conversation.system_prompt})
        out += [{"role": m.role, "content": m.content} for m in self.path(conversation_id, leaf_id)]
        return out

    # --- branches -------------------------------------------------------------------------------
    def edit(self, message_id: str, content: str, **fields: Any) -> Message:
        """Edit a message by adding a sibling with the new text (a new branch); the old one stays."""
        original = self.message(message_id)
        return self.append(original.conversation_id, original.role, content, parent_id=original.parent_id,
                           after_active=False, model_id=fields.pop("model_id", original.model_id),
                           meta={**fields.pop("meta", {}), "edited_from": message_id}, **fields)

    def regenerate_parent(self, message_id: str) -> str | None:
        """Where a regenerated answer to ``message_id`` goes: its parent (the new answer is a sibling)."""
        message = self.message(message_id)
        if message.role != "assistant":
            raise ValueError("only an assistant answer can be regenerated")
        return message.parent_id

    def leaves(self, conversation_id: str) -> list[Message]:
        """Messages without replies: one per branch, oldest first."""
        with self._history.lock:
            rows = self._db.query(
                "SELECT * FROM messages m WHERE conversation_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM messages c WHERE c.parent_id = m.id) ORDER BY created_at, rowid",
                [conversation_id])
            return [_message(row) for row in rows]

    def branches(self, conversation_id: str) -> list[Branch]:
        """Every branch (root-to-leaf path) with its length and whether it is the active one."""
        active = self.get(conversation_id).active_leaf_id
        active_path = {m.id for m in self.path(conversation_id)} if active else set()
        out = []
        for leaf in self.leaves(conversation_id):
            chain = self.path(conversation_id, leaf.id)
            out.append(Branch(leaf.id, len(chain), leaf.id in active_path and leaf.id == active,
                              leaf.created_at, _title_from(leaf.content)))
        return out

    def switch(self, conversation_id: str, message_id: str) -> list[Message]:
        """Make the branch through ``message_id`` active (following its newest replies); returns its path."""
        message = self.message(message_id)
        if message.conversation_id != conversation_id:
            raise ValueError(f"message {message_id} belongs to another conversation")
        leaf = message
        while True:
            replies = self.children(leaf.id)
            if not replies:
                break
            leaf = replies[-1]
        self._update(conversation_id, active_leaf_id=leaf.id)
        return self.path(conversation_id, leaf.id)

    # --- export ---------------------------------------------------------------------------------
    def export_json(self, conversation_id: str) -> dict[str, Any]:
        """The whole conversation (every branch) as plain data, with the active path's ids."""
        conversation = self.get(conversation_id)
        return {
            "format": "local-ai-workbench.conversation/1",
            "conversation": asdict(conversation),
            "active_path": [m.id for m in self.path(conversation_id)],
            "messages": [asdict(m) for m in self.messages(conversation_id)],
        }

    def export_markdown(self, conversation_id: str, leaf_id: str | None = None, *,
                        with_stats: bool = True) -> str:
        """The active branch (or the one ending at ``leaf_id``) as Markdown."""
        conversation = self.get(conversation_id)
        lines = [f"# {conversation.title or 'Conversation'}", ""]
        if conversation.model_id:
            lines += [f"*Model:* `{conversation.model_id}`", ""]
        if conversation.system_prompt:
            lines += ["**System**", "", conversation.system_prompt, ""]
        for message in self.path(conversation_id, leaf_id):
            who = {"user": "User", "assistant": "Assistant", "system": "System"}[message.role]
            header = f"**{who}**"
            if message.role == "assistant" and message.model_id:
                header += f" · `{message.model_id}`"
            lines += [header, "", message.content, ""]
            if with_stats and message.stats:
                lines += [f"<sub>{_stats_line(message.stats)}</sub>", ""]
        return "\n".join(lines).rstrip() + "\n"


def _stats_line(stats: Mapping[str, Any]) -> str:
    parts = []
    for key, label, unit in (("ttft_ms", "TTFT", " ms"), ("gen_tokens_per_s", "", " tok/s"),
                             ("gen_tokens", "", " tokens"), ("stop_reason", "stop:", "")):
        value = stats.get(key)
        if value is None:
            continue
        digits = 0 if key == "gen_tokens" else 1
        text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
        parts.append(f"{label} {text}{unit}".strip())
    return " · ".join(parts)
