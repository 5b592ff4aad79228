"""The Compare page: run one workload across devices, backends, precisions and quantizations, and compare.

The comparison itself is ``app.compare`` (each configuration in its own worker); this page chooses the
settings, starts and cancels it through :class:`~ui.compare.job.CompareJob`, shows rows as they finish, and
keeps every database and file operation (past sessions, import, export) on the shared task runner.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.compare.plan import PlanError
from app.compare.results import CompareSession, ResultRow
from ui.compare.charts import CompareCharts
from ui.compare.form import CompareForm
from ui.compare.job import CompareJob
from ui.compare.table import ResultsTables
from ui.context import AppContext
from ui.preferences import restore_splitter
from ui.widgets.device_picker import ensure_devices

EXPORT_FILTERS = {"md": "Markdown (*.md)", "csv": "CSV (*.csv)", "json": "JSON (*.json)",
                  "sqlite": "SQLite (*.db *.sqlite)"}


class ComparePage(QWidget):
    """Hardware comparison: settings on the left, results table and charts on the right."""

    run_finished = Signal(str)  # status: ok | cancelled | failed
    sessions_listed = Signal(int)
    imported = Signal(int)  # sessions added to the table
    exported = Signal(str)  # path written
    failed = Signal(str)  # a background step failed: the reason

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.job = CompareJob(context, self)
        self.shown: list[CompareSession] = []  # what the table and charts show
        self._running: CompareSession | None = None
        self._closed = False
        self._build()
        self._connect()
        self.form.restore(context.settings)
        self.form.set_devices(context.devices)
        context.devices_ready.connect(self.form.set_devices)
        ensure_devices(context)
        self.refresh_sessions()
        self._update_buttons()

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = CompareForm()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.form)
        scroll.setMinimumWidth(self.form.minimumSizeHint().width() + 24)
        self.run_button = QPushButton("Run comparison")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)

        self.sessions_box = QComboBox()
        self.sessions_box.setMinimumContentsLength(30)
        self.sessions_box.setToolTip("Stored comparisons, newest first (imported ones say where from)")
        self.show_button = QPushButton("Show")
        self.add_button = QPushButton("Add to table")
        self.add_button.setToolTip("Show this comparison beside the ones in the table")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Another machine's export (JSON, CSV or SQLite), compared in the same table")
        self.export_button = QPushButton("Export…")
        menu = QMenu(self.export_button)
        for fmt, words in (("md", "Markdown…"), ("csv", "CSV…"), ("json", "JSON…"), ("sqlite", "SQLite…")):
            action = menu.addAction(words)
            action.triggered.connect(self._exporter(fmt))
        self.export_button.setMenu(menu)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Comparisons"))
        bar.addWidget(self.sessions_box, 1)
        for button in (self.show_button, self.add_button, self.import_button, self.export_button):
            bar.addWidget(button)

        self.tables = ResultsTables()
        self.charts = CompareCharts()
        self.machine_label = QLabel("")
        self.machine_label.setObjectName("muted")
        self.machine_label.setWordWrap(True)
        self.machine_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel("")
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tables.row_selected.connect(self.details.setText)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.tables, 1)
        table_layout.addWidget(self.details)
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(table_box)
        right_split.addWidget(self.charts)
        right_split.setSizes([380, 420])
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(bar)
        right_layout.addWidget(self.machine_label)
        right_layout.addWidget(right_split, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        restore_splitter(self.splitter, self.context.settings, "compare/splitter", [scroll.minimumWidth(), 1000])

        self.status = QLabel("Choose what to compare, then Run. Each configuration runs in its own worker.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title = QLabel("Compare hardware")
        title.setObjectName("pageTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

    def _connect(self) -> None:
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.show_button.clicked.connect(lambda: self._open_selected(add=False))
        self.add_button.clicked.connect(lambda: self._open_selected(add=True))
        self.import_button.clicked.connect(self._import_dialog)
        job = self.job
        job.planned.connect(self._on_planned)
        job.config_started.connect(self._on_config_started)
        job.progress.connect(self._on_progress)
        job.live.connect(self.charts.add_live)
        job.config_done.connect(self._on_config_done)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)

    # --- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a comparison with the form's settings."""
        if self.job.running:
            return
        try:
            settings = self.form.settings()
        except PlanError as exc:
            self._set_status(str(exc), error=True)
            return
        self.form.save(self.context.settings)
        self.charts.start_live()
        self.progress.setValue(0)
        self._running = None
        self._set_status("planning: probing devices and fingerprinting the machine…")
        self.job.start(settings, self.context.device_report)
        self._update_buttons()

    def cancel(self) -> None:
        """Stop the running configuration; rows measured so far are kept."""
        if self.job.running:
            self.job.cancel()
            self._set_status("cancelling: stopping the running configuration…")

    def _on_planned(self, session_id: str, labels: list[str]) -> None:
        self._running = CompareSession(session_id, time.time(), "", {}, {}, "running")
        self.shown = [self._running]
        self._set_status(f"{len(labels)} configurations planned")

    def _on_config_started(self, index: int, total: int, label: str) -> None:
        self._set_status(f"[{index + 1}/{total}] {label}")

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self._set_status(message)

    def _on_config_done(self, row: ResultRow) -> None:
        if self._running is None:
            return
        self._running.results.append(row)
        self._show(self.shown)

    def _on_finished(self, session: CompareSession) -> None:
        self._running = None
        if self._closed:
            return
        self.progress.setValue(1000 if session.status == "ok" else self.progress.value())
        self._show([session])
        warnings = sum(1 for r in session.results for f in r.flags if f.level == "warning")
        words = {"ok": "finished", "cancelled": "cancelled", "failed": "failed"}.get(session.status, session.status)
        skipped = sum(len(rows) for rows in self.tables.skipped.values())
        self._set_status(f"comparison {words}: {len(session.results)} configurations measured"
                         + (f", {skipped} skipped (greyed rows say why)" if skipped else "")
                         + (f", {warnings} warnings (tinted rows; hover for details)" if warnings else ""),
                         error=session.status == "failed")
        self._update_buttons()
        self.refresh_sessions(select=session.id)
        self.run_finished.emit(session.status)

    def _on_failed(self, message: str) -> None:
        self._running = None
        self._set_status(f"the comparison could not run: {message}", error=True)
        self._update_buttons()
        self.run_finished.emit("failed")

    # --- stored sessions ---------------------------------------------------------------------------
    def refresh_sessions(self, select: str | None = None) -> None:
        """List stored comparisons in the background."""
        history = self.context.history

        def work(_state: Any) -> list[CompareSession]:
            from app.compare.store import CompareStore

            return CompareStore(history).sessions(limit=200)

        self.context.tasks.run(work, on_done=lambda sessions: self._fill_sessions(sessions, select),
                               on_error=self._background_failed)

    def _fill_sessions(self, sessions: list[CompareSession], select: str | None) -> None:
        if self._closed:
            return
        self.sessions_box.clear()
        for session in sessions:
            when = dt.datetime.fromtimestamp(session.created_at).strftime("%Y-%m-%d %H:%M")
            where = f" — {session.source}" if session.imported else ""
            self.sessions_box.addItem(f"{when} · {session.workload} · {session.status} · {session.machine_label}"
                                      f"{where}", session.id)
        if select is not None:
            self.sessions_box.setCurrentIndex(max(0, self.sessions_box.findData(select)))
        self._update_buttons()
        self.sessions_listed.emit(len(sessions))

    def _open_selected(self, add: bool) -> None:
        session_id = self.sessions_box.currentData()
        if session_id:
            self.open_sessions([str(session_id)], add=add)

    def open_sessions(self, session_ids: list[str], add: bool = False) -> None:
        """Show stored sessions (beside the shown ones with ``add``), read in the background."""
        history = self.context.history

        def work(_state: Any) -> list[CompareSession]:
            from app.compare.store import CompareStore

            store = CompareStore(history)
            return [store.session(sid) for sid in session_ids]

        def done(sessions: list[CompareSession]) -> None:
            keep = [s for s in self.shown if s.id not in session_ids] if add else []
            self._show(keep + sessions)

        self.context.tasks.run(work, on_done=done, on_error=self._background_failed)

    def import_files(self, paths: list[str]) -> None:
        """Import other machines' exports and show them beside the shown comparison."""
        history = self.context.history

        def work(_state: Any) -> list[CompareSession]:
            from app.compare.importing import import_file
            from app.compare.store import CompareStore

            store = CompareStore(history)
            return [s for path in paths for s in import_file(store, Path(path))]

        def done(sessions: list[CompareSession]) -> None:
            ids = {s.id for s in sessions}
            self._show([s for s in self.shown if s.id not in ids] + sessions)
            self._set_status(f"imported {len(sessions)} comparison(s) from {', '.join(Path(p).name for p in paths)}")
            self.refresh_sessions()
            self.imported.emit(len(sessions))

        self.context.tasks.run(work, on_done=done, on_error=self._background_failed)

    def export_to(self, path: str, fmt: str | None = None) -> None:
        """Write the shown comparisons to ``path`` (format from ``fmt`` or the suffix) in the background."""
        sessions = list(self.shown)
        if not sessions:
            self._set_status("nothing to export: run a comparison or open one first", error=True)
            return
        history = self.context.history

        def work(_state: Any) -> str:
            from app.compare.export import write_export

            return str(write_export(sessions, Path(path), fmt, source=history))

        def done(written: str) -> None:
            self._set_status(f"wrote {written}")
            self.exported.emit(written)

        self.context.tasks.run(work, on_done=done, on_error=self._background_failed)

    def _import_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import comparisons", "",
                                                "Comparison exports (*.json *.csv *.db *.sqlite *.sqlite3)")
        if paths:
            self.import_files(paths)

    def _exporter(self, fmt: str) -> Callable[[], None]:
        return lambda: self._export_dialog(fmt)

    def _export_dialog(self, fmt: str) -> None:
        suggested = f"comparison.{'db' if fmt == 'sqlite' else fmt}"
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", suggested, EXPORT_FILTERS[fmt])
        if path:
            self.export_to(path, fmt)

    def _background_failed(self, message: str, _details: str) -> None:
        self._set_status(message, error=True)
        self.failed.emit(message)

    # --- showing -----------------------------------------------------------------------------------
    def _show(self, sessions: list[CompareSession]) -> None:
        if self._closed:
            return
        self.shown = list(sessions)
        self.tables.show_sessions(self.shown)
        self.charts.show_sessions(self.shown)
        machines = dict.fromkeys(s.machine_label for s in self.shown if s.machine)
        self.machine_label.setText("Machine: " + " | ".join(machines) if machines else "")
        self._update_buttons()

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e11d48;" if error else "")

    def _update_buttons(self) -> None:
        running = self.job.running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.form.setEnabled(not running)
        has_sessions = self.sessions_box.count() > 0
        self.show_button.setEnabled(has_sessions)
        self.add_button.setEnabled(has_sessions and bool(self.shown))
        self.export_button.setEnabled(bool(self.shown) and not running)

    # --- lifecycle ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Cancel a running comparison, wait for its workers to close, stop timers, remember the layout."""
        self._closed = True
        self.context.settings.setValue("compare/splitter", self.splitter.saveState())
        self.form.save(self.context.settings)
        self.job.shutdown()
        self.charts.stop()
