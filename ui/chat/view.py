"""The message view: the active branch as rich text, the answer being streamed, and per-message actions.

Finished messages are rendered once. While an answer streams, the view redraws at most ``hz`` times a
second from the buffered text (never once per token), and only the unfinished tail: Markdown up to the
last blank line outside a code block is rendered once and kept, so a long answer costs the same per
redraw as a short one. Actions under
the messages are links: edit a question (makes a branch), regenerate an answer, step between branches,
copy.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.usecases.chat_state import ViewMessage
from ui.chat.markdown import render_markdown, render_plain, stable_prefix_length
from ui.chat.stats import stats_line
from ui.theme import is_dark


def _link(action: str, message_id: str, label: str, colour: str) -> str:
    return f'<a href="act:{action}:{message_id}" style="color: {colour}; text-decoration: none;">{label}</a>'


class ChatView(QTextBrowser):
    """Shows messages; emits what the user asked for through the links."""

    edit_requested = Signal(str)  # user message id
    regenerate_requested = Signal(str)  # assistant message id
    branch_requested = Signal(str)  # id of the sibling to switch to

    def __init__(self, parent: QWidget | None = None, hz: float = 10.0) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._anchor)
        self.messages: tuple[ViewMessage, ...] = ()
        self._contents: dict[str, str] = {}
        self._stream_start: int | None = None
        self._tail_start = 0
        self._committed = 0
        self._stream_text = ""
        self._stream_dirty = False
        self.stream_renders = 0
        self.placeholder = "Choose a model, then ask something. Answers stream here."
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.timeout.connect(self._render_stream)
        self.document().setDocumentMargin(12)
        self.set_messages(())

    # --- rendering ------------------------------------------------------------------------------
    def _colours(self) -> dict[str, str]:
        dark = is_dark()
        return {"user_bg": "#24324a" if dark else "#eaf1ff", "muted": "#8b949e" if dark else "#6b7079",
                "link": "#6ea8ff" if dark else "#1d5fd1", "who": "#c9d1d9" if dark else "#24292f"}

    def _message_html(self, message: ViewMessage, colours: dict[str, str], dark: bool) -> str:
        who = "You" if message.role == "user" else "System" if message.role == "system" else "Assistant"
        if message.role == "assistant" and message.model_id:
            who += f' <span style="color: {colours["muted"]}; font-weight: normal;">· ' \
                   f'{html.escape(message.model_id)}</span>'
        actions = []
        if len(message.siblings) > 1:
            index = message.branch_index - 1
            previous = message.siblings[index - 1] if index > 0 else None
            following = message.siblings[index + 1] if index + 1 < len(message.siblings) else None
            nav = _link("branch", previous, "‹", colours["link"]) if previous else "‹"
            nav += f" {index + 1}/{len(message.siblings)} "
            nav += _link("branch", following, "›", colours["link"]) if following else "›"
            actions.append(nav)
        if message.role == "user":
            actions.append(_link("edit", message.id, "edit", colours["link"]))
        if message.role == "assistant":
            actions.append(_link("regenerate", message.id, "regenerate", colours["link"]))
        actions.append(_link("copy", message.id, "copy", colours["link"]))
        footer = " &nbsp;·&nbsp; ".join(actions)
        stats = stats_line(message.stats) if message.role == "assistant" else ""
        if stats:
            footer = f"{html.escape(stats)} &nbsp;&nbsp; {footer}"
        footer_html = f'<p style="color: {colours["muted"]}; font-size: small; margin-top: 2px;">{footer}</p>'
        header = f'<p style="margin-bottom: 2px;"><b style="color: {colours["who"]};">{who}</b></p>'
        if message.role == "user":
            body = (f'<table width="100%" cellspacing="0" cellpadding="8" bgcolor="{colours["user_bg"]}">'
                    f'<tr><td style="color: {colours["who"]};">{render_plain(message.content)}</td></tr></table>')
        else:
            body = render_markdown(message.content, dark=dark) or "<p><i>(empty answer)</i></p>"
        return header + body + footer_html

    def set_messages(self, messages: Sequence[ViewMessage]) -> None:
        """Show ``messages`` (ends any stream)."""
        self._timer.stop()
        self._stream_start = None
        self.messages = tuple(messages)
        self._contents = {m.id: m.content for m in self.messages}
        colours, dark = self._colours(), is_dark()
        if not self.messages:
            self.setHtml(f'<p style="color: {colours["muted"]};"><br><br>{html.escape(self.placeholder)}</p>')
            return
        self.setHtml("".join(self._message_html(m, colours, dark) for m in self.messages))
        self.scroll_to_end()

    def changeEvent(self, event: QEvent) -> None:
        """Redraw the conversation in the new colours when the theme changes (not mid-stream)."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and self._stream_start is None and hasattr(self, "_timer"):
            self.set_messages(self.messages)

    def scroll_to_end(self) -> None:
        """Show the newest text."""
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    # --- streaming ------------------------------------------------------------------------------
    def begin_stream(self, messages: Sequence[ViewMessage], model_id: str | None) -> None:
        """Show ``messages`` and an empty answer below them that :meth:`append_stream` fills."""
        self.set_messages(messages)
        if not self.messages:
            self.clear()
        colours = self._colours()
        who = "Assistant"
        if model_id:
            who += f' <span style="color: {colours["muted"]}; font-weight: normal;">· {html.escape(model_id)}</span>'
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if self.messages:
            cursor.insertBlock()  # a block of its own: never appended to the last message's footer line
        cursor.insertHtml(f'<p style="margin-bottom: 2px;"><b style="color: {colours["who"]};">{who}</b></p>')
        cursor.insertBlock()
        self._stream_start = self._tail_start = cursor.position()
        self._committed = 0
        self._stream_text = ""
        self._stream_dirty = True
        self._timer.start()
        self._render_stream()

    def append_stream(self, text: str) -> None:
        """Add streamed text; it is drawn at the next tick."""
        self._stream_text += text
        self._stream_dirty = True

    @property
    def stream_text(self) -> str:
        """The answer streamed so far."""
        return self._stream_text

    @property
    def streaming(self) -> bool:
        """True between :meth:`begin_stream` and the next :meth:`set_messages`."""
        return self._stream_start is not None

    def _render_stream(self) -> None:
        if self._stream_start is None or not self._stream_dirty:
            return
        self._stream_dirty = False
        self.stream_renders += 1
        bar = self.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        dark = is_dark()
        text = self._stream_text
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._tail_start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cut = stable_prefix_length(text)
        if cut > self._committed:
            cursor.insertHtml(render_markdown(text[self._committed:cut], dark=dark))
            cursor.insertBlock()  # the tail starts in a block of its own, never merged into the kept part
            self._committed = cut
            self._tail_start = cursor.position()
        tail = text[self._committed:]
        body = render_markdown(tail, dark=dark) if tail.strip() else ""
        cursor.insertHtml(body + "<p>▍</p>" if body else "<p>▍</p>")
        if at_end:
            self.scroll_to_end()

    def stop_stream_timer(self) -> None:
        """Stop redrawing (pages call this from ``shutdown``)."""
        self._timer.stop()

    # --- actions --------------------------------------------------------------------------------
    def _anchor(self, url: QUrl) -> None:
        text = url.toString()
        if not text.startswith("act:"):
            return
        _, action, message_id = text.split(":", 2)
        if action == "edit":
            self.edit_requested.emit(message_id)
        elif action == "regenerate":
            self.regenerate_requested.emit(message_id)
        elif action == "branch":
            self.branch_requested.emit(message_id)
        elif action == "copy":
            QGuiApplication.clipboard().setText(self._contents.get(message_id, ""))

