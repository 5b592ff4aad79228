"""The Chat page's conversation actions: open, new, rename, delete, export, edits and branches.

Store work runs off the UI thread, on the shared task runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow, QMessageBox, QWidget

from app.usecases.chat_state import ConversationState, load_state, new_conversation, switch_branch


class ConversationActions(QWidget):
    """Mixed into :class:`ui.chat.page.ChatPage`, which provides the store, the widgets and the state."""

    # Provided by ChatPage.
    store: Any
    context: Any
    settings: Any
    conversations: Any
    sampling: Any
    model_bar: Any
    composer: Any
    view: Any
    state: ConversationState | None
    last_export: str
    _search: str
    _edit_of: str | None
    edit_note: Any
    cancel_edit_button: Any

    @property
    def generating(self) -> bool:
        """Provided by ChatPage."""
        raise NotImplementedError

    @property
    def conversation_id(self) -> str | None:
        """Provided by ChatPage."""
        raise NotImplementedError


    # --- conversations --------------------------------------------------------------------------
    def refresh_conversations(self, select: str | None = None) -> None:
        """Reload the list (filtered by the search text) in the background; open ``select`` if given."""
        search = self._search

        def work(_state: Any) -> Any:
            return self.store.conversations(search=search or None, limit=500)

        def done(conversations: Any) -> None:
            wanted = select or self.conversation_id
            self.conversations.set_items(conversations, wanted)
            if select and select != self.conversation_id and any(c.id == select for c in conversations):
                self.open_conversation(select)

        self.context.tasks.run(work, on_done=done, on_error=self._task_failed)

    def _search_changed(self, text: str) -> None:
        self._search = text
        self.refresh_conversations()

    def open_conversation(self, conversation_id: str) -> None:
        """Show a conversation (not while an answer streams)."""
        if self.generating or conversation_id == self.conversation_id:
            return
        self.cancel_edit()
        self.context.tasks.run(lambda _s: load_state(self.store, conversation_id), on_done=self._show_state,
                               on_error=self._task_failed)

    def new_chat(self) -> None:
        """Start an empty conversation."""
        if self.generating:
            return
        self.cancel_edit()
        system, settings, model = self.sampling.system_text(), self.sampling.values(), self.model_bar.model_ref()

        def done(state: ConversationState) -> None:
            self._show_state(state)
            self.refresh_conversations()
            self.composer.setFocus()

        self.context.tasks.run(lambda _s: new_conversation(self.store, system_prompt=system, settings=settings,
                                                           model_id=model or None),
                               on_done=done, on_error=self._task_failed)

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        """Give a conversation a title."""
        self.context.tasks.run(lambda _s: self.store.rename(conversation_id, title),
                               on_done=lambda _c: self.refresh_conversations(), on_error=self._task_failed)

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation and its messages."""
        def done(_result: Any) -> None:
            if conversation_id == self.conversation_id:
                self.state = None
                self.view.set_messages(())
                self.settings.remove("chat/conversation")
                self._show_context(None)
            self.refresh_conversations()

        self.context.tasks.run(lambda _s: self.store.delete(conversation_id), on_done=done,
                               on_error=self._task_failed)

    def export_conversation(self, conversation_id: str, path: str, fmt: str) -> None:
        """Write a conversation to ``path`` as Markdown (the active branch) or JSON (every branch)."""
        def work(_state: Any) -> str:
            if fmt == "json":
                text = json.dumps(self.store.export_json(conversation_id), indent=2, ensure_ascii=False)
            else:
                text = self.store.export_markdown(conversation_id)
            Path(path).write_text(text, encoding="utf-8")
            return path

        self.context.tasks.run(work, on_done=self._exported, on_error=self._task_failed)

    def _exported(self, path: str) -> None:
        self.last_export = path
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(f"Saved {path}", 4000)

    def _ask_rename(self, conversation_id: str) -> None:
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:")
        if ok and title.strip():
            self.rename_conversation(conversation_id, title.strip())

    def _ask_delete(self, conversation_id: str) -> None:
        answer = QMessageBox.question(self, "Delete conversation",
                                      "Delete this conversation and all its branches?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_conversation(conversation_id)

    def _ask_export(self, conversation_id: str, fmt: str) -> None:
        suffix = "json" if fmt == "json" else "md"
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", f"conversation.{suffix}",
                                              "JSON (*.json)" if fmt == "json" else "Markdown (*.md)")
        if path:
            self.export_conversation(conversation_id, path, fmt)

    # --- editing and branches -------------------------------------------------------------------
    def start_edit(self, message_id: str) -> None:
        """Put an earlier question in the composer; sending it makes a new branch."""
        if self.generating or self.state is None:
            return
        message = next((m for m in self.state.messages if m.id == message_id), None)
        if message is None:
            return
        self._edit_of = message_id
        self.composer.setPlainText(message.content)
        self.composer.setFocus()
        self.edit_note.setText("Editing an earlier message: sending it starts a new branch (the old one stays).")
        self.edit_note.show()
        self.cancel_edit_button.show()

    def cancel_edit(self) -> None:
        """Leave edit mode."""
        if self._edit_of is not None:
            self._edit_of = None
            self.composer.clear()
        self._hide_edit_note()

    def _hide_edit_note(self) -> None:
        self.edit_note.hide()
        self.cancel_edit_button.hide()

    def switch_branch(self, message_id: str) -> None:
        """Show the branch through ``message_id``."""
        if self.generating or self.state is None:
            return
        conversation_id = self.state.id
        self.context.tasks.run(lambda _s: switch_branch(self.store, conversation_id, message_id),
                               on_done=self._show_state, on_error=self._task_failed)
