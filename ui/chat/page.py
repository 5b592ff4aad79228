"""The Chat page: conversations with branches, streaming answers with live speed graphs, model loading.

The model lives in an LLM worker process (:class:`ui.engine_session.EngineSession`); the conversation
store is used only from background tasks; the answer and the graphs redraw at a fixed rate from buffers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.conversations import ConversationStore
from app.recording import RunOutcome
from app.usecases.chat_state import (
    ConversationState,
    PreparedRequest,
    load_state,
    new_conversation,
    prepare_regenerate,
    prepare_send,
    switch_branch,
)
from app.usecases.chat_turn import answer_to_store, store_outcome
from ui.chat.controls import ModelBar, SamplingPanel
from ui.chat.conversations import ConversationList
from ui.chat.stats import TokenRate, context_text
from ui.chat.view import ChatView
from ui.context import AppContext
from ui.engine_session import EngineSession
from ui.preferences import engine_threads

DEFAULT_MODEL = "smollm2-135m-instruct"


def list_llm_models(context: AppContext) -> list[tuple[str, str]]:
    """(ref, label) of every installed GGUF model: the starter models, then the registry's."""
    from app.models.registry import Registry

    out = []
    for record in Registry(context.history).list("llm"):
        if record.format != "gguf" or not record.exists:
            continue
        size = f"{record.size_bytes / 2**20:.0f} MB" if record.size_bytes else ""
        parts = [record.id, record.quant or "", size]
        if record.meta.get("chat") is False:
            parts.append("base, no chat")
        out.append((record.id, " · ".join(part for part in parts if part)))
    return out


def estimate_fit(ref: str, n_ctx: int) -> str:
    """One line saying how much memory ``ref`` needs at ``n_ctx`` and whether it fits (no model is read)."""
    from app.model_refs import resolve_model_ref
    from app.models.fit import estimate_file_fit
    from core.memory_fit import available_memory

    path = resolve_model_ref(ref, "llm")
    size = path.stat().st_size
    free_ram, free_vram = available_memory()
    fit = estimate_file_fit(path.name, size, free_ram=free_ram, free_vram=free_vram, n_ctx=n_ctx)
    if fit is None:
        return f"{path.name}: {size / 2**20:.0f} MB"
    return (f"needs ≈ {fit.required_bytes / 2**30:.2f} GiB at context {n_ctx}, "
            f"{free_ram / 2**30:.1f} GiB RAM free: {fit.verdict.value}")


def describe_loaded(info: dict[str, Any]) -> str:
    """The line shown once a model is loaded."""
    parts = [str(info.get("name") or info.get("model_id") or "model")]
    if info.get("quantization"):
        parts.append(str(info["quantization"]))
    if isinstance(info.get("load_ms"), int | float):
        parts.append(f"loaded in {info['load_ms'] / 1000:.1f} s")
    parts.append(f"on {info.get('device', 'cpu')}")
    if info.get("threads"):
        parts.append(f"{info['threads']} thread{'s' if info['threads'] != 1 else ''}")
    if info.get("n_ctx"):
        parts.append(f"context {info['n_ctx']}")
    memory = info.get("memory") or {}
    if isinstance(memory, dict) and memory.get("total_bytes"):
        parts.append(f"≈ {memory['total_bytes'] / 2**30:.2f} GiB ({memory.get('verdict', '')})")
    if info.get("can_chat") is False:
        parts.append("no chat template: chat is not available")
    return " · ".join(parts)


WORKER_NICE = 5


def lower_priority(pid: int | None, niceness: int = WORKER_NICE) -> None:
    """Run a chat worker a little below the window's priority (Unix nice ``niceness``).

    On a busy machine a worker computing tokens at full speed otherwise delays the UI thread's wake-ups by
    tens of milliseconds; on an idle machine the worker still gets every free cycle, so speed is unchanged.
    """
    if pid is None:
        return
    import psutil

    try:
        process = psutil.Process(pid)
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        elif process.nice() < niceness:
            process.nice(niceness)
    except (psutil.Error, OSError):
        pass  # not allowed or already gone: the worker simply keeps its priority


class _Composer(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter starts a new line."""

    def __init__(self, on_send: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_send = on_send
        self.setPlaceholderText("Message (Enter sends, Shift+Enter for a new line)")
        self.setMaximumHeight(110)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Send on Enter."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._on_send()
            return
        super().keyPressEvent(event)


class ChatPage(QWidget):
    """Conversations on the left, the chat in the middle, generation settings and live graphs on the right."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.settings = context.settings
        self.store = ConversationStore(context.history)
        self.session = EngineSession("llm", context.history, self, service=context.service)
        self.state: ConversationState | None = None
        self.request: PreparedRequest | None = None
        self.last_outcome: RunOutcome | None = None
        self.last_error = ""
        self.last_export = ""
        self._edit_of: str | None = None
        self._partials: list[dict[str, Any]] = []
        self._rate = TokenRate()
        self._t_sent = 0.0
        self._search = ""
        self._fit_generation = 0
        self.plot: Any = None
        self._closed = False
        self._build()
        self._connect()
        # Reading the database and the model list waits for the first paint of the window.
        QTimer.singleShot(30, self, self._initial_load)

    def _initial_load(self) -> None:
        if self._closed:
            return
        self.refresh_conversations(select=str(self.settings.value("chat/conversation", "")) or None)
        self.refresh_models()
        from ui.chat.markdown import warm_up

        self.context.tasks.run(lambda _s: warm_up())

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.conversations = ConversationList()
        self.model_bar = ModelBar(self.context)
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.restart_button = QPushButton("Restart")
        self.restart_button.setToolTip("Start a fresh worker and load the model again")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.restart_button)
        self.banner.hide()
        self.view = ChatView()
        self.edit_note = QLabel()
        self.edit_note.setObjectName("muted")
        self.edit_note.hide()
        self.composer = _Composer(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setToolTip("Answer the last question again (the old answer stays as a branch)")
        self.cancel_edit_button = QPushButton("Cancel edit")
        self.cancel_edit_button.hide()
        self.context_bar = QProgressBar()
        self.context_bar.setRange(0, 1000)
        self.context_bar.setTextVisible(False)
        self.context_bar.setMaximumHeight(8)
        self.context_label = QLabel(context_text(None, None))
        self.context_label.setObjectName("muted")

        buttons = QVBoxLayout()
        for button in (self.send_button, self.stop_button, self.regenerate_button, self.cancel_edit_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        composer_row = QHBoxLayout()
        composer_row.addWidget(self.composer, 1)
        composer_row.addLayout(buttons)
        context_row = QHBoxLayout()
        context_row.addWidget(self.context_label)
        context_row.addWidget(self.context_bar, 1)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addWidget(self.model_bar)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(self.view, 1)
        center_layout.addWidget(self.edit_note)
        center_layout.addLayout(composer_row)
        center_layout.addLayout(context_row)

        self.sampling = SamplingPanel()
        sampling_box = QGroupBox("Generation")
        QVBoxLayout(sampling_box).addWidget(self.sampling)
        self.plot_box = QGroupBox("Speed of this answer")
        self.plot_layout = QVBoxLayout(self.plot_box)
        self.plot_placeholder = QLabel("Tokens per second and the time between tokens, live while an answer "
                                       "streams.")
        self.plot_placeholder.setWordWrap(True)
        self.plot_placeholder.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plot_placeholder.setObjectName("muted")
        self.plot_layout.addWidget(self.plot_placeholder)
        right = QWidget()
        right.setMinimumWidth(220)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 6, 6, 6)
        right_layout.addWidget(sampling_box)
        right_layout.addWidget(self.plot_box, 1)

        left = QWidget()
        left.setMinimumWidth(170)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.conversations)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, center, right):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 720, 280])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._set_busy(False)

    def _connect(self) -> None:
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.regenerate_button.clicked.connect(self.regenerate_last)
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        self.restart_button.clicked.connect(self.restart_worker)
        self.model_bar.load_requested.connect(self.load_model)
        self.model_bar.model_changed.connect(self._model_changed)
        self.model_bar.n_ctx.valueChanged.connect(lambda _v: self._model_changed(self.model_bar.model_ref()))
        self.model_bar.device.device_changed.connect(lambda device: self.settings.setValue("chat/device", device))
        self.conversations.selected.connect(self.open_conversation)
        self.conversations.new_requested.connect(self.new_chat)
        self.conversations.search_changed.connect(self._search_changed)
        self.conversations.rename_requested.connect(self._ask_rename)
        self.conversations.delete_requested.connect(self._ask_delete)
        self.conversations.export_requested.connect(self._ask_export)
        self.view.edit_requested.connect(self.start_edit)
        self.view.regenerate_requested.connect(self.regenerate)
        self.view.branch_requested.connect(self.switch_branch)
        self.sampling.changed.connect(self._remember_sampling)
        session = self.session
        session.load_progress.connect(self._load_progress)
        session.loaded.connect(self._loaded)
        session.load_failed.connect(self._load_failed)
        session.partial.connect(self._partial)
        session.finished.connect(self._finished)
        session.crashed.connect(self._crashed)
        session.busy_changed.connect(lambda _busy: self._set_busy(self.request is not None))
        QShortcut(QKeySequence("Ctrl+N"), self, self.new_chat)
        QShortcut(QKeySequence("Escape"), self, self.stop)
        self.sampling.set_values(self._stored_sampling())
        self.model_bar.device.set_device(str(self.settings.value("chat/device", "cpu")))

    def _ensure_plot(self) -> Any:
        # Built with the first answer: until then the box explains what it will show.
        if self.plot is None and not self._closed:
            from ui.widgets.live_plot import LivePlot

            self.plot = LivePlot("", ("tokens/s", "latency ms"), y_label="tokens/s", x_label="seconds",
                                 right_axis=("latency ms",), capacity=8192, hz=10)
            self.plot.setMinimumWidth(180)
            self.plot_placeholder.hide()
            self.plot_layout.addWidget(self.plot, 1)
        return self.plot

    # --- state ----------------------------------------------------------------------------------
    @property
    def conversation_id(self) -> str | None:
        """The conversation on show."""
        return self.state.id if self.state is not None else None

    @property
    def generating(self) -> bool:
        """True while an answer is being produced."""
        return self.request is not None

    def _set_busy(self, generating: bool) -> None:
        loading = self.session.busy and not generating
        self.send_button.setEnabled(not generating and not loading)
        self.stop_button.setEnabled(generating)
        self.regenerate_button.setEnabled(not generating and not loading and self.state is not None
                                          and self.state.last is not None)
        self.model_bar.load_button.setEnabled(not generating and not loading)

    def _show_state(self, state: ConversationState) -> None:
        self.state = state
        self.settings.setValue("chat/conversation", state.id)
        self.view.set_messages(state.messages)
        self.sampling.set_values({**self._stored_sampling(), **state.conversation.settings})
        self.sampling.set_system_text(state.conversation.system_prompt)
        self._show_context(state.context_used)
        self._set_busy(self.generating)

    def _show_context(self, used: int | None) -> None:
        n_ctx = self.session.model_info.get("n_ctx") if self.session.model_info else None
        if n_ctx is None and self.state is not None:
            for message in reversed(self.state.messages):
                if isinstance(message.stats.get("n_ctx"), int):
                    n_ctx = message.stats["n_ctx"]
                    break
        self.context_label.setText(context_text(used, n_ctx))
        self.context_bar.setValue(round(1000 * used / n_ctx) if used and n_ctx else 0)

    def _error(self, message: str) -> None:
        self.last_error = message
        self.banner_text.setText(message)
        self.restart_button.hide()
        self.banner.show()

    def _clear_error(self) -> None:
        self.last_error = ""
        self.banner.hide()

    def _task_failed(self, message: str, _traceback: str) -> None:
        self._error(message)

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

    # --- settings -------------------------------------------------------------------------------
    def _stored_sampling(self) -> dict[str, Any]:
        raw = self.settings.value("chat/sampling", "")
        try:
            value = json.loads(str(raw)) if raw else {}
        except ValueError:
            value = {}
        return value if isinstance(value, dict) else {}

    def _remember_sampling(self) -> None:
        self.settings.setValue("chat/sampling", json.dumps(self.sampling.values()))

    # --- models ---------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """List the installed GGUF models in the background."""
        current = str(self.settings.value("chat/model", DEFAULT_MODEL))
        self.context.tasks.run(lambda _s: list_llm_models(self.context),
                               on_done=lambda models: self.model_bar.set_models(models, current),
                               on_error=self._task_failed)

    def _model_changed(self, ref: str) -> None:
        if not ref:
            return
        self.settings.setValue("chat/model", ref)
        if self.session.busy:
            return
        self._fit_generation += 1
        generation = self._fit_generation
        n_ctx = self.model_bar.n_ctx.value() or 4096

        def done(text: str) -> None:
            if generation != self._fit_generation or self.session.busy:
                return
            if self.session.is_loaded and self.session.uses(*self._wanted()):
                self.model_bar.status.setText(describe_loaded(self.session.model_info))
            elif self.session.is_loaded:
                self.model_bar.status.setText(f"{ref}: {text} (loaded now: {self.session.model_id}; it loads "
                                              "with your next message, or press Load)")
            else:
                self.model_bar.status.setText(f"{ref}: {text}")

        self.context.tasks.run(lambda _s: estimate_fit(ref, n_ctx), on_done=done,
                               on_error=lambda message, _tb: done(f"cannot estimate: {message}"))

    def load_model(self) -> None:
        """Load the chosen model on the chosen device (in the background, with progress)."""
        ref = self.model_bar.model_ref()
        if not ref or self.generating:
            return
        _ref, device, options = self._wanted()
        self._clear_error()
        self.model_bar.set_busy(True, f"Loading {ref} on {device}…")
        self.session.load(ref, device, options, threads=engine_threads(self.settings), model_id=ref)
        self._set_busy(False)

    def _wanted(self) -> tuple[str, str, dict[str, Any]]:
        """The model, device and load options chosen in the model bar."""
        return (self.model_bar.model_ref(), self.model_bar.device.current_device(), self.model_bar.load_options())

    def _use_chosen_model(self) -> None:
        # The service loads it with the request (just in time) when it is not the loaded one.
        ref, device, options = self._wanted()
        if ref and not self.session.uses(ref, device, options):
            self.session.use(ref, device, options, threads=engine_threads(self.settings), model_id=ref)

    def _load_progress(self, fraction: float, message: str) -> None:
        self.model_bar.set_busy(True, message, fraction)

    def _loaded(self, info: dict[str, Any]) -> None:
        lower_priority(self.session.worker_pid)
        self.banner.hide()
        self.model_bar.set_busy(False, describe_loaded(info))
        self._show_context(self.state.context_used if self.state else None)
        self._set_busy(self.generating)

    def _load_failed(self, kind: str, message: str) -> None:
        self.model_bar.set_busy(False, f"Could not load the model ({kind}): {message}")
        self._error(f"Could not load the model: {message}")
        self._set_busy(False)

    # --- sending --------------------------------------------------------------------------------
    def send(self) -> None:
        """Send the composer's text (loading the model first when needed)."""
        text = self.composer.toPlainText().strip()
        if not text or self.generating or self.session.busy:
            return
        self.composer.clear()
        edit_of, self._edit_of = self._edit_of, None
        self._hide_edit_note()
        self._use_chosen_model()
        system, settings, model = self.sampling.system_text(), self.sampling.values(), self.session.model_id
        conversation_id = self.conversation_id
        self._clear_error()
        self.context.tasks.run(
            lambda _s: prepare_send(self.store, conversation_id, text, system_prompt=system, settings=settings,
                                    model_id=model, edit_of=edit_of),
            on_done=self._generate, on_error=self._task_failed)

    def regenerate_last(self) -> None:
        """Answer the active branch's last question again."""
        if self.state is not None and self.state.last is not None:
            self.regenerate(self.state.last.id)

    def regenerate(self, message_id: str) -> None:
        """A new answer in place of ``message_id`` (the old one stays as a branch)."""
        if self.generating or self.session.busy or self.state is None:
            return
        self._use_chosen_model()
        system, settings, model = self.sampling.system_text(), self.sampling.values(), self.session.model_id
        conversation_id = self.state.id
        self._clear_error()
        self.context.tasks.run(
            lambda _s: prepare_regenerate(self.store, conversation_id, message_id, system_prompt=system,
                                          settings=settings, model_id=model),
            on_done=self._generate, on_error=self._task_failed)

    def _generate(self, request: PreparedRequest) -> None:
        if self._closed:
            return
        self.request = request
        self._partials = []
        self.state = request.state
        self.settings.setValue("chat/conversation", request.state.id)
        self.refresh_conversations()
        params = {**self.sampling.values(), "messages": request.messages}
        self.view.begin_stream(request.state.messages, self.session.model_id)
        plot = self._ensure_plot()
        plot.clear()
        # Text and graph both redraw at 10 Hz; half a period apart, their work never lands in one frame.
        plot.restart(delay_ms=50)
        self._t_sent = time.perf_counter()
        self._rate.reset(self._t_sent)
        self._set_busy(True)
        self.session.run("chat", params)

    def _partial(self, data: dict[str, Any]) -> None:
        if self.request is None:
            return
        self._partials.append(data)
        text = data.get("text")
        if isinstance(text, str) and text:
            self.view.append_stream(text)
        t = data.get("t")
        elapsed, latency_ms, rate = self._rate.add(float(t) if isinstance(t, int | float) else time.perf_counter())
        if self.plot is not None and rate is not None:
            # The first token's wait is the TTFT (shown under the answer); plotting it would flatten the rest.
            self.plot.add("latency ms", elapsed, latency_ms)
            self.plot.add("tokens/s", elapsed, rate)

    def stop(self) -> None:
        """Stop the answer being generated (what came so far is kept)."""
        if self.generating:
            self.session.cancel()

    def _finished(self, outcome: RunOutcome) -> None:
        request, self.request = self.request, None
        partials, self._partials = self._partials, []
        self.last_outcome = outcome
        self._set_busy(False)
        if request is None or self._closed:
            return
        answer = answer_to_store(outcome, partials)
        if answer is None:
            self.view.set_messages(request.state.messages)
            if outcome.status == "failed":
                self._error(f"The answer failed: {outcome.error}")
            return
        params = self.sampling.values()
        model = self.session.model_id
        self._show_context(answer.stats.get("context_used"))
        self.context.tasks.run(
            lambda _s: store_outcome(self.store, request, outcome, partials, model_id=model, params=params),
            on_done=self._answer_saved, on_error=self._task_failed)

    def _answer_saved(self, state: ConversationState | None) -> None:
        if self._closed or state is None:
            return
        self._show_state(state)
        self.refresh_conversations()

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

    # --- crashes --------------------------------------------------------------------------------
    def _crashed(self, reason: str) -> None:
        self.model_bar.set_busy(False, "The model worker stopped.")
        self.banner_text.setText(f"The chat worker stopped: {reason.strip()}\n"
                                 "The conversation is safe and the answer so far is kept (marked interrupted). "
                                 "Send or regenerate to go on: the worker restarts then, or restart it now.")
        self.restart_button.show()
        self.banner.show()
        self.last_error = reason

    def restart_worker(self) -> None:
        """Start a new worker with the same model (after a crash)."""
        self.restart_button.hide()
        self.banner_text.setText("Restarting the worker…")
        self.session.restart()

    # --- lifecycle ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the answer, close the worker, stop the timers."""
        if self._closed:
            return
        self._closed = True
        self.view.stop_stream_timer()
        if self.plot is not None:
            self.plot.stop()
        self.session.close()
