"""The Classify page: drop images or folders, see top-5 labels stream in, measure, evaluate, export.

All model work runs in a vision worker behind an :class:`EngineSession`; requests wait in a small queue so
that a changed backend, precision or device reloads the model before the next run. Partial results are
buffered and moved into the grid and graphs by one timer, so a folder of thousands of images costs ten UI
updates a second. Thumbnails, the model list and exports run on the shared task runner.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QWidget,
)

from app.recording import RunOutcome
from app.usecases.classify_export import write_evaluation, write_results
from ui.classify.card import card_html
from ui.classify.file_actions import FileActions
from ui.classify.layout import build_layout
from ui.classify.results import ClassifiedImage, load_thumbnails
from ui.classify.settings import LoadChoice
from ui.classify.summary import summary_line
from ui.context import AppContext
from ui.engine_session import EngineSession
from ui.tasks import Task

TICK_MS = 100  # partials move into the grid and graphs at this rate
THUMB_CHUNK = 48  # thumbnails decoded per background task
RESULTS_TAB, EVAL_TAB = 0, 1


class ClassifyPage(FileActions):
    """Image classification with live measurements."""

    exported = Signal(str)  # path written
    run_finished = Signal(str, str)  # op, status

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = EngineSession("vision", context.history, self, service=context.service)
        self.model_info: dict[str, Any] = {}
        self.card: dict[str, Any] = {}
        self.last_result: dict[str, Any] = {}
        self._stream_op: str | None = None  # classify or eval: what the buffered partials belong to
        self._last_request: tuple[str, dict[str, Any]] | None = None
        self._buffer: list[dict[str, Any]] = []
        self._eval_counts = [0, 0, 0]  # evaluated, correct, failed
        self._thumb_queue: list[str] = []
        self._thumb_task: Task | None = None
        self._closed = False
        self._build()
        self._connect()
        self.setAcceptDrops(True)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._flush)
        self._list_models()
        self._update_buttons()

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        build_layout(self)

    def _connect(self) -> None:
        self.load_button.clicked.connect(self.load_model)
        self.open_images_button.clicked.connect(self._open_images)
        self.open_folder_button.clicked.connect(self._open_folder)
        self.run_again_button.clicked.connect(self.run_again)
        self.eval_button.clicked.connect(self._open_eval_folder)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._export_dialog)
        self.restart_button.clicked.connect(self.restart_worker)
        self.settings.changed.connect(self._update_buttons)
        session = self.session
        session.started.connect(self._on_started)
        session.busy_changed.connect(lambda _busy: self._update_buttons())
        session.load_progress.connect(self._on_load_progress)
        session.loaded.connect(self._on_loaded)
        session.load_failed.connect(self._on_load_failed)
        session.partial.connect(self._on_partial)
        session.progress.connect(self._on_progress)
        session.finished.connect(self._on_finished)
        session.crashed.connect(self._on_crashed)

    # --- public actions ------------------------------------------------------------------------
    def classify(self, paths: list[str]) -> None:
        """Classify image files and folders (folders are walked by the engine)."""
        if paths:
            self._request("classify", {"paths": list(paths), "topk": 5, "batch": self.settings.batch_size()})

    def evaluate(self, folder: str) -> None:
        """Evaluate a labelled folder (one sub-folder per class)."""
        self._request("eval", {"folder": folder, "batch": self.settings.batch_size()})

    def run_again(self) -> None:
        """Repeat the last classify or eval with the current settings."""
        if self._last_request is not None:
            op, params = self._last_request
            self._request(op, {**params, "batch": self.settings.batch_size()})

    def load_model(self) -> None:
        """Load the model with the current settings (runs also load it when it is missing or outdated)."""
        choice = self.settings.choice()
        if self._uses(choice) and self.session.is_loaded:
            self._set_status(f"{choice.model} is already loaded with these settings")
            return
        self.progress.setRange(0, 0)
        self._set_status(f"loading {choice.model} ({choice.backend}, {choice.precision}) on {choice.device}…")
        self.session.load(choice.model, choice.device, choice.options(), model_id=choice.model)
        self.card = {}
        self.session.run("card", {}, record=False)

    def _use(self, choice: LoadChoice) -> None:
        # A new model: its card is asked for first, so it shows before the run's results.
        self.session.use(choice.model, choice.device, choice.options(), model_id=choice.model)
        self.card = {}
        self.session.run("card", {}, record=False)

    def cancel(self) -> None:
        """Stop the running request and drop the queued ones."""
        self.session.cancel()
        self._set_status("cancelling…")

    def restart_worker(self) -> None:
        """Start a fresh worker after a crash and reload the model."""
        self.restart_button.hide()
        self.progress.setRange(0, 0)
        self._set_status("restarting the vision worker…")
        if self.session.model is None:
            self.load_model()
        else:
            self.session.restart()
        self._update_buttons()

    def export_results(self, path: str) -> None:
        """Write the shown results (``.csv`` or ``.json``) in the background."""
        rows = [row.raw for row in self.results.rows()]
        run = {k: v for k, v in self.last_result.items() if k not in ("series", "results")}
        self._write_in_background(lambda _state: str(write_results(path, rows, run)))

    def export_evaluation(self, path: str) -> None:
        """Write the shown evaluation (``.csv`` or ``.json``) in the background."""
        result = self.eval_panel.result
        if result is None:
            self._set_status("nothing to export: evaluate a labelled folder first", error=True)
            return
        self._write_in_background(lambda _state: str(write_evaluation(path, result)))

    @property
    def is_running(self) -> bool:
        """True while a load or a request is in flight or queued."""
        return self.session.busy

    # --- requests ------------------------------------------------------------------------------
    def _uses(self, choice: LoadChoice) -> bool:
        return self.session.uses(choice.model, choice.device, choice.options())

    def _request(self, op: str, params: dict[str, Any]) -> None:
        # The model service loads the chosen model first when needed and queues behind a running request.
        choice = self.settings.choice()
        waits = self.session.busy
        if not self._uses(choice):
            self._use(choice)
        self._last_request = (op, params)
        if waits:
            self._set_status(f"queued: {op} (waiting for the current run)")
        else:
            self._on_started(op)  # nothing runs before it: clear the last results now, not after the load
        self.session.run(op, params)
        self._update_buttons()

    def _on_started(self, op: str) -> None:
        if op not in ("classify", "eval"):
            return
        self._stream_op = op
        self._buffer.clear()
        self.performance.reset()
        self.progress.setRange(0, 0)
        if op == "classify":
            if not self.keep_results.isChecked():  # else a second folder's images follow the first's
                self.results.clear()
            self.hint.hide()
            self.tabs.setCurrentIndex(RESULTS_TAB)
        else:
            self._eval_counts = [0, 0, 0]
            self.eval_panel.clear()
            self.eval_panel.show_progress(0, 0, 0)
            self.tabs.setCurrentIndex(EVAL_TAB)
        self._tick.start()
        self._set_status("classifying…" if op == "classify" else "evaluating…")

    # --- session signals -----------------------------------------------------------------------
    def _on_load_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))
        if message:
            self._set_status(f"loading: {message}")

    def _on_loaded(self, info: dict[str, Any]) -> None:
        self.model_info = dict(info)
        self.card_view.setHtml(card_html(self.model_info, self.card))
        self.restart_button.hide()
        self._finish_progress()
        self._set_status(f"loaded {info.get('name', '')} on {info.get('backend')} {info.get('precision')} "
                         f"· {info.get('device')} in {float(info.get('load_s', 0)):.1f} s")

    def _on_load_failed(self, kind: str, message: str) -> None:
        self.session.cancel()  # what waits for this model would fail the same way
        self._finish_progress()
        self._set_status(f"could not load the model ({kind}): {message}", error=True)
        self.run_finished.emit("load", "failed")
        self._update_buttons()

    def _on_partial(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)

    def _on_progress(self, done: float, total: float, _message: str) -> None:
        if total > 0:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))
            self.progress.setFormat("%v / %m images")

    def _on_finished(self, outcome: RunOutcome) -> None:
        self._flush(final=True)
        if self._tick.isActive():
            self._tick.stop()
            self.performance.finish()
        self._finish_progress()
        op = outcome.op or "?"
        if outcome.phase == "load":  # the model never loaded: _on_load_failed or _on_crashed said why
            self.run_finished.emit(op, outcome.status)
            self._update_buttons()
            return
        result = dict(outcome.result or {})
        if op == "card" and outcome.ok:
            self.card = result
            self.card_view.setHtml(card_html(self.model_info, self.card))
        elif op == "classify":
            self._classify_done(outcome, result)
        elif op == "eval":
            self._eval_done(outcome, result)
        if outcome.status == "failed" and op not in ("classify", "eval"):
            self._set_status(f"{op} failed: {outcome.error}", error=True)
        self.run_finished.emit(op, outcome.status)
        self._update_buttons()

    def _classify_done(self, outcome: RunOutcome, result: dict[str, Any]) -> None:
        self.last_result = result
        batch = int((self._last_request or ("", {}))[1].get("batch") or 0) or None
        if outcome.ok:
            self.summary.setText(summary_line(result, batch))
            wall = float((result.get("metrics") or {}).get("wall_s", 0.0))
            self._set_status(f"done: {int(result.get('classified', 0))} images classified in {wall:.2f} s")
        elif outcome.status == "cancelled":
            self.summary.setText(summary_line(result, batch) if result else "")
            self._set_status(f"cancelled after {self.results.rowCount()} images")
        elif outcome.status == "failed":
            self._set_status(f"classify failed: {outcome.error}", error=True)

    def _eval_done(self, outcome: RunOutcome, result: dict[str, Any]) -> None:
        if outcome.ok:
            self.eval_panel.show_result(result)
            for _t, latency in (result.get("series") or {}).get("latency_ms", []):
                self.performance.histogram.add(float(latency))
            self.performance.finish()
            metrics = result.get("metrics") or {}
            self.summary.setText(f"evaluated {int(result.get('evaluated', 0))} images · "
                                 f"{float(metrics.get('images_per_s', 0)):.1f} images/s")
            self._set_status(f"evaluation done: top-1 {float(result.get('top1', 0)):.1%}")
        elif outcome.status == "cancelled":
            self._set_status("evaluation cancelled")
        elif outcome.status == "failed":
            self.eval_panel.summary.setText(f"<span style='color:#d64545'>{outcome.error}</span>")
            self._set_status(f"evaluation failed: {outcome.error}", error=True)

    def _on_crashed(self, reason: str) -> None:
        self._finish_progress()
        self._set_status(f"the vision worker stopped: {reason}", error=True)
        self.restart_button.show()
        self._update_buttons()

    # --- buffered drawing ----------------------------------------------------------------------
    def _flush(self, final: bool = False) -> None:
        rows, self._buffer = self._buffer, []
        if rows and self._stream_op == "eval":
            for row in rows:
                if row.get("ok"):
                    self._eval_counts[0] += 1
                    self._eval_counts[1] += bool(row.get("correct"))
                    self.performance.add(None)
                else:
                    self._eval_counts[2] += 1
            if not final:
                self.eval_panel.show_progress(*self._eval_counts)
        elif rows:
            items = [ClassifiedImage.from_partial(row) for row in rows]
            self.results.add(items)
            for item in items:
                if item.ok:
                    self.performance.add(item.latency_ms)
            self._thumb_queue.extend(item.path for item in items if item.ok)
            self._load_thumbnails()
        if not final:
            self.performance.tick()

    def _load_thumbnails(self) -> None:
        if self._thumb_task is not None or not self._thumb_queue or self._closed:
            return
        chunk, self._thumb_queue = self._thumb_queue[:THUMB_CHUNK], self._thumb_queue[THUMB_CHUNK:]
        self._thumb_task = self.context.tasks.run(lambda state: load_thumbnails(chunk, state),
                                                  on_done=self._thumbnails_done,
                                                  on_error=self._thumbnails_failed)

    def _thumbnails_done(self, images: dict[str, Any]) -> None:
        self._thumb_task = None
        if self._closed:
            return
        self.results.set_thumbnails(images)
        self._load_thumbnails()

    def _thumbnails_failed(self, message: str, _trace: str) -> None:
        self._thumb_task = None
        self._set_status(f"thumbnails: {message}", error=True)

    # --- helpers -------------------------------------------------------------------------------
    def _finish_progress(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0 if self.session.busy else 1)
        self.progress.setFormat("%p%")

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_row.show_status(text, error)

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(self.session.busy)
        self.run_again_button.setEnabled(self._last_request is not None)
        self.export_button.setEnabled(self.results.rowCount() > 0 or self.eval_panel.result is not None)

    def _list_models(self) -> None:
        history = self.context.history

        def work(_state: Any) -> list[tuple[str, str]]:
            from app.models.registry import Registry

            return [(r.id, r.path or r.id) for r in Registry(history).list("vision")]

        self.context.tasks.run(work, on_done=self._models_listed)

    def _models_listed(self, entries: list[tuple[str, str]]) -> None:
        if not self._closed:
            self.settings.set_models(entries)

    def _write_in_background(self, work: Any) -> None:
        self._set_status("exporting…")
        self.context.tasks.run(work, on_done=self._exported,
                               on_error=lambda message, _tb: self._set_status(f"export failed: {message}", error=True))

    def _exported(self, path: str) -> None:
        self._set_status(f"exported {path}")
        self.exported.emit(path)

    # --- lifecycle -----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and background work, and close the worker."""
        if self._closed:
            return
        self._closed = True
        self.context.settings.setValue("classify/splitter", self.splitter.saveState())
        self._tick.stop()
        self.performance.stop()
        if self._thumb_task is not None:
            self._thumb_task.cancel()
            self._thumb_task.finished.wait(5)
        self.session.close()
