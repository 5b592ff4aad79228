"""The Chat page: conversations with branches, streaming answers with live speed graphs, model loading.

The model lives in an LLM worker process (:class:`ui.engine_session.EngineSession`); the conversation
store is used only from background tasks; the answer and the graphs redraw at a fixed rate from buffers.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from app.conversations import ConversationStore
from app.default_models import spec_default
from app.engine_types import ChatPartial
from app.recording import RunOutcome
from app.usecases.chat_state import (
    ConversationState,
    PreparedRequest,
    prepare_regenerate,
    prepare_send,
)
from app.usecases.chat_turn import answer_to_store, store_outcome
from ui.chat.conversation_actions import ConversationActions
from ui.chat.layout import build_layout
from ui.chat.model_info import describe_loaded, estimate_fit, list_llm_models, lower_priority
from ui.chat.stats import TokenRate, context_text
from ui.context import AppContext
from ui.engine_session import EngineSession
from ui.preferences import engine_threads


class ChatPage(ConversationActions):
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
        build_layout(self)

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
        self._refresh_load_button()

    def _refresh_load_button(self) -> None:
        # "Loaded" while the chosen model, device and context are the loaded ones; "Load" once they differ.
        loaded = self.session.is_loaded and self.session.uses(*self._wanted())
        self.model_bar.load_button.setText("Loaded" if loaded else "Load")
        self.model_bar.load_button.setToolTip("This model is loaded with these settings" if loaded
                                              else "Load the chosen model with these settings now")

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
        current = str(self.settings.value("chat/model", spec_default("llm")))
        self.context.tasks.run(lambda _s: list_llm_models(self.context),
                               on_done=lambda models: self.model_bar.set_models(models, current),
                               on_error=self._task_failed)

    def _model_changed(self, ref: str) -> None:
        if not ref:
            return
        self._refresh_load_button()
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
                self.model_bar.status.setText(describe_loaded(self.session.model_info, self.session.model_id))
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
        self.model_bar.set_busy(False, describe_loaded(info, self.session.model_id))
        self._refresh_load_button()
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

    def _partial(self, data: ChatPartial | dict[str, Any]) -> None:
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
            self.composer.setFocus()

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
