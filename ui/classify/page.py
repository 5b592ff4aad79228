"""The Classify page: drop images or folders, see top-5 labels stream in, measure, evaluate, export.

All model work runs in a vision worker behind an :class:`EngineSession`; requests wait in a small queue so
that a changed backend, precision or device reloads the model before the next run. Partial results are
buffered and moved into the grid and graphs by one timer, so a folder of thousands of images costs ten UI
updates a second. Thumbnails, the model list and exports run on the shared task runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.recording import RunOutcome
from app.usecases.classify_export import write_evaluation, write_results
from ui.classify.card import card_html
from ui.classify.drop import IMAGE_FILTER, dropped_paths
from ui.classify.eval import EvalPanel
from ui.classify.plots import LivePerformance
from ui.classify.results import ClassifiedImage, ResultsModel, load_thumbnails, make_results_view
from ui.classify.settings import LoadChoice, RunSettings
from ui.context import AppContext
from ui.engine_session import EngineSession
from ui.preferences import restore_splitter
from ui.tasks import Task
from ui.widgets.worker_status import WorkerStatusRow

TICK_MS = 100  # partials move into the grid and graphs at this rate
THUMB_CHUNK = 48  # thumbnails decoded per background task
RESULTS_TAB, EVAL_TAB = 0, 1


@dataclass
class _Request:
    op: str
    params: dict[str, Any]
    choice: LoadChoice
    record: bool = True


def summary_line(result: Mapping[str, Any]) -> str:
    """One line about a finished classify run: counts, rate, latency and where it ran."""
    metrics = result.get("metrics") or {}
    parts = [f"{int(result.get('classified', metrics.get('images', 0)))} of {int(result.get('images', 0))} images"]
    if result.get("failed"):
        parts.append(f"{int(result['failed'])} failed")
    if "images_per_s" in metrics:
        parts.append(f"{metrics['images_per_s']:.1f} images/s")
    if "latency_mean_ms" in metrics:
        parts.append(f"latency mean {metrics['latency_mean_ms']:.0f} ms, p90 {metrics.get('latency_p90_ms', 0):.0f} ms")
    stages = [f"{s} {metrics[f'{s}_ms_mean']:.1f}" for s in ("decode", "preprocess", "inference")
              if f"{s}_ms_mean" in metrics]
    if stages:
        parts.append("per image " + " / ".join(stages) + " ms")
    if result.get("backend"):
        parts.append(f"{result['backend']} {result.get('precision', '')} on {result.get('device', '')}")
    return " · ".join(parts)


class ClassifyPage(QWidget):
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
        self._loaded_choice: LoadChoice | None = None
        self._last_loaded: LoadChoice | None = None  # survives a crash, for the restart
        self._stream_op: str | None = None  # classify or eval: what the buffered partials belong to
        self._loading: LoadChoice | None = None
        self._active: _Request | str | None = None  # the request in flight, "load", or None
        self._queue: list[_Request] = []
        self._last_request: _Request | None = None
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
        self.settings = RunSettings(self.context)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the model with these settings now (runs load it when needed)")
        top = QHBoxLayout()
        top.addWidget(self.settings, 1)
        top.addWidget(self.load_button)

        self.open_images_button = QPushButton("Open images…")
        self.open_folder_button = QPushButton("Open folder…")
        self.run_again_button = QPushButton("Run again")
        self.run_again_button.setToolTip("Repeat the last run with the current backend, precision, device and batch")
        self.eval_button = QPushButton("Evaluate folder…")
        self.eval_button.setToolTip("A labelled folder: one sub-folder per class, named after the model's classes")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export…")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMaximumWidth(260)
        actions = QHBoxLayout()
        for button in (self.open_images_button, self.open_folder_button, self.run_again_button, self.eval_button,
                       self.cancel_button, self.export_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.progress)

        self.results = ResultsModel(self)
        self.results_view = make_results_view(self.results)
        self.results_view.setAcceptDrops(False)
        self.results_view.viewport().setAcceptDrops(False)
        self.hint = QLabel("Drop images or folders here, or use <b>Open images…</b> / <b>Open folder…</b>.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        results_box = QWidget()
        results_layout = QVBoxLayout(results_box)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.hint)
        results_layout.addWidget(self.results_view, 1)
        self.eval_panel = EvalPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(results_box, "Results")
        self.tabs.addTab(self.eval_panel, "Evaluation")

        self.card_view = QTextBrowser()
        self.card_view.setOpenLinks(False)
        self.card_view.setHtml("<p>No model loaded yet.</p>")
        self.performance = LivePerformance()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.card_view)
        side.addWidget(self.performance)
        side.setSizes([320, 480])
        side_box = QWidget()
        side_layout = QVBoxLayout(side_box)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(side, 1)
        side_layout.addWidget(self.summary)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(side_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        restore_splitter(self.splitter, self.context.settings, "classify/splitter", [960, 420])

        self.status_row = WorkerStatusRow()
        self.status = self.status_row.label
        self.restart_button = self.status_row.restart_button

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status_row)

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
        last = self._last_request
        if last is not None:
            self._request(last.op, {**last.params, "batch": self.settings.batch_size()})

    def load_model(self) -> None:
        """Load the model with the current settings (runs also load it when it is missing or outdated)."""
        choice = self.settings.choice()
        if choice == self._loaded_choice and self.session.is_loaded:
            self._set_status(f"{choice.model} is already loaded with these settings")
            return
        self._queue.insert(0, _Request("card", {}, choice, record=False))
        self._pump()

    def cancel(self) -> None:
        """Stop the running request and drop the queued ones."""
        self._queue.clear()
        self.session.cancel()
        self._set_status("cancelling…")

    def restart_worker(self) -> None:
        """Start a fresh worker after a crash and reload the model."""
        self.restart_button.hide()
        if self._active is not None:
            return
        if self.session.worker_pid is None or self._last_loaded is None:
            self._start_load(self.settings.choice())
        else:
            self._active = "load"
            self._loading = self._last_loaded
            self.progress.setRange(0, 0)
            self._set_status("restarting the vision worker…")
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
        return self._active is not None or bool(self._queue)

    # --- queue ---------------------------------------------------------------------------------
    def _request(self, op: str, params: dict[str, Any]) -> None:
        request = _Request(op, params, self.settings.choice())
        self._last_request = request
        self._queue.append(request)
        if self._active is not None:
            self._set_status(f"queued: {op} (waiting for the current run)")
        self._pump()

    def _pump(self) -> None:
        if self._active is not None or not self._queue or self._closed:
            self._update_buttons()
            return
        request = self._queue[0]
        if self._loaded_choice != request.choice or not self.session.is_loaded:
            self._start_load(request.choice)
        else:
            self._queue.pop(0)
            self._start_run(request)
        self._update_buttons()

    def _start_load(self, choice: LoadChoice) -> None:
        self._active = "load"
        self._loading = choice
        self.progress.setRange(0, 0)
        self._set_status(f"loading {choice.model} ({choice.backend}, {choice.precision}) on {choice.device}…")
        self.session.load(choice.model, choice.device, choice.options(), model_id=choice.model)

    def _start_run(self, request: _Request) -> None:
        self._active = request
        if request.op in ("classify", "eval"):
            self._stream_op = request.op
            self._buffer.clear()
            self.performance.reset()
            self.progress.setRange(0, 0)
            if request.op == "classify":
                self.results.clear()
                self.hint.hide()
                self.tabs.setCurrentIndex(RESULTS_TAB)
            else:
                self._eval_counts = [0, 0, 0]
                self.eval_panel.clear()
                self.eval_panel.show_progress(0, 0, 0)
                self.tabs.setCurrentIndex(EVAL_TAB)
            self._tick.start()
            self._set_status("classifying…" if request.op == "classify" else "evaluating…")
        self.session.run(request.op, request.params, record=request.record)

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
        self._loaded_choice = self._last_loaded = self._loading
        self._active = None
        self.model_info = dict(info)
        self.card = {}
        self.card_view.setHtml(card_html(self.model_info))
        self.restart_button.hide()
        self._finish_progress()
        self._set_status(f"loaded {info.get('name', '')} on {info.get('backend')} {info.get('precision')} "
                         f"· {info.get('device')} in {float(info.get('load_s', 0)):.1f} s")
        if not any(r.op == "card" for r in self._queue) and self._loaded_choice is not None:
            self._queue.insert(0, _Request("card", {}, self._loaded_choice, record=False))
        self._pump()

    def _on_load_failed(self, kind: str, message: str) -> None:
        self._active = None
        self._loaded_choice = None
        self._queue.clear()
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
        request = self._active if isinstance(self._active, _Request) else None
        self._active = None
        self._flush(final=True)
        if self._tick.isActive():
            self._tick.stop()
            self.performance.finish()
        self._finish_progress()
        op = request.op if request else "?"
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
        self._pump()

    def _classify_done(self, outcome: RunOutcome, result: dict[str, Any]) -> None:
        self.last_result = result
        if outcome.ok:
            self.summary.setText(summary_line(result))
            wall = float((result.get("metrics") or {}).get("wall_s", 0.0))
            self._set_status(f"done: {int(result.get('classified', 0))} images classified in {wall:.2f} s")
        elif outcome.status == "cancelled":
            self.summary.setText(summary_line(result) if result else "")
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
        if self._active == "load":
            self._active = None
        self._queue.clear()
        self._loaded_choice = None
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
        self.progress.setValue(1 if self._active is None else 0)
        self.progress.setFormat("%p%")

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_row.show_status(text, error)

    def _update_buttons(self) -> None:
        running = self._active is not None
        self.cancel_button.setEnabled(running or bool(self._queue))
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

    # --- file dialogs and drops ----------------------------------------------------------------
    def _open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Classify images", self._last_dir(), IMAGE_FILTER)
        if paths:
            self._remember_dir(paths[0])
            self.classify(paths)

    def _open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Classify a folder", self._last_dir())
        if folder:
            self._remember_dir(folder)
            self.classify([folder])

    def _open_eval_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Evaluate a labelled folder", self._last_dir())
        if folder:
            self._remember_dir(folder)
            self.evaluate(folder)

    def _export_dialog(self) -> None:
        evaluation = self.tabs.currentIndex() == EVAL_TAB and self.eval_panel.result is not None
        title = "Export the evaluation" if evaluation else "Export the results"
        path, chosen = QFileDialog.getSaveFileName(self, title, str(Path(self._last_dir()) / (
            "evaluation.csv" if evaluation else "classified.csv")), "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".json" if "json" in chosen.lower() else ".csv"
        if evaluation:
            self.export_evaluation(path)
        else:
            self.export_results(path)

    def _last_dir(self) -> str:
        return str(self.context.settings.value("classify/last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        folder = path if Path(path).is_dir() else str(Path(path).parent)
        self.context.settings.setValue("classify/last_dir", folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags that carry local files or folders."""
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Classify what was dropped."""
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self._remember_dir(paths[0])
            self.classify(paths)

    # --- lifecycle -----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and background work, and close the worker."""
        if self._closed:
            return
        self._closed = True
        self.context.settings.setValue("classify/splitter", self.splitter.saveState())
        self._tick.stop()
        self.performance.stop()
        self._queue.clear()
        if self._thumb_task is not None:
            self._thumb_task.cancel()
            self._thumb_task.finished.wait(5)
        self.session.close()
