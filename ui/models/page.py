"""The Models page: what is installed (with disk use), Hub search with fit verdicts, downloads, imports.

Every model-manager call (database, disk, network) runs on the task runner; a download reports progress
through the task's throttled progress signal and stops on Cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.models.hub import HubTab
from ui.models.tables import fill_table, make_table
from ui.models.view import INSTALLED_COLUMNS, disk_summary, installed_row
from ui.preferences import CACHE_KEY, ENDPOINT_KEY, text_setting
from ui.tasks import Task, TaskState

DAMAGED_COLOUR = "#dc2626"


def list_models(manager: Any, kind: str | None) -> list[tuple[Any, Any]]:
    """Registered and starter models plus the shipped Bayesian networks, each with its cheap health check."""
    from ui.models.networks import shipped_network_records

    records = list(manager.list(kind))
    if kind in (None, "bayes"):
        known = {r.id for r in records}
        records += [r for r in shipped_network_records() if r.id not in known]
    return [(r, manager.health(r)) for r in records]


class ModelsPage(HubTab, QWidget):
    """Installed models, the Hub, downloads, imports and scans."""

    download_finished = Signal(str)  # "ok" | "cancelled" | "failed"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setAcceptDrops(True)
        self.records: list[Any] = []
        self.repos: list[Any] = []
        self.listing: Any = None
        self.download_task: Task | None = None
        self.last_message = ""
        self.last_error = ""
        self._closed = False
        self._build()
        self.refresh_installed()

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.addTab(self._installed_tab(), "Installed")
        self.tabs.addTab(self._hub_tab(), "Find on the Hub")
        # A failure (the Hub unreachable, an import refused) gets a banner, cleared on a tab switch.
        self.error_banner = QLabel("")
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet("#errorBanner { background: #fde8e8; color: #9b1c1c; padding: 8px; "
                                        "border: 1px solid #f8b4b4; border-radius: 4px; }")
        self.error_banner.hide()
        self.tabs.currentChanged.connect(lambda _i: self.clear_error())
        self.message = QLabel("Drop model files or folders here to import them where they are (no copy).")
        self.message.setObjectName("muted")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_label = QLabel("")
        self.download_bar = QProgressBar()
        self.download_bar.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel download")
        download_row = QHBoxLayout()
        download_row.addWidget(self.download_label, 1)
        download_row.addWidget(self.download_bar, 1)
        download_row.addWidget(self.cancel_button)
        self.download_panel = QWidget()
        self.download_panel.setLayout(download_row)
        self.download_panel.hide()
        self.cancel_button.clicked.connect(self.cancel_download)
        layout = QVBoxLayout(self)
        title = QLabel("Models")
        title.setObjectName("pageTitle")
        layout.addWidget(title)
        layout.addWidget(self.error_banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.download_panel)
        layout.addWidget(self.message)

    def _installed_tab(self) -> QWidget:
        self.kind_filter = QComboBox()
        self.kind_filter.addItems(["all kinds", "llm", "vision", "bayes", "other"])
        self.refresh_button = QPushButton("Refresh")
        self.import_file_button = QPushButton("Import file…")
        self.import_folder_button = QPushButton("Import folder…")
        self.scan_button = QPushButton("Scan other apps")
        self.scan_button.setToolTip("Find models kept by LM Studio, Ollama and the Hugging Face cache")
        self.delete_button = QPushButton("Delete…")
        self.installed = make_table(INSTALLED_COLUMNS)
        self.installed.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.disk_label = QLabel("")
        self.disk_label.setObjectName("muted")
        row = QHBoxLayout()
        for widget in (self.kind_filter, self.refresh_button, self.import_file_button, self.import_folder_button,
                       self.scan_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.delete_button)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(row)
        layout.addWidget(self.installed, 1)
        layout.addWidget(self.disk_label)
        self.kind_filter.currentIndexChanged.connect(lambda _i: self.refresh_installed())
        self.refresh_button.clicked.connect(self.refresh_installed)
        self.import_file_button.clicked.connect(self._ask_import_file)
        self.import_folder_button.clicked.connect(self._ask_import_folder)
        self.scan_button.clicked.connect(self.scan)
        self.delete_button.clicked.connect(self._ask_delete)
        return tab

    # --- the manager ----------------------------------------------------------------------------
    def make_manager(self) -> Any:
        """A model manager on the shared history, with the Hub endpoint and cache from Settings."""
        from app.models.api import ModelManager
        from app.models.hub import HubClient
        from app.models.registry import Registry

        endpoint = text_setting(self.context.settings, ENDPOINT_KEY)
        cache = text_setting(self.context.settings, CACHE_KEY)
        return ModelManager(registry=Registry(self.context.history), hub=HubClient(endpoint=endpoint),
                            cache_dir=Path(cache) if cache else None)

    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.setText(text)

    def _failed(self, message: str, _traceback: str = "") -> None:
        self.last_error = message.split(": ", 1)[-1] if message.startswith("ModelError") else message
        self._say(self.last_error)
        self.error_banner.setText(f"⚠ {self.last_error}")
        self.error_banner.show()

    def clear_error(self) -> None:
        """Hide the error banner (a tab switch: the error belonged to what the other tab did)."""
        if self.last_error and self.message.text() == self.last_error:
            self._say("")
        self.last_error = ""
        self.error_banner.hide()

    # --- installed ------------------------------------------------------------------------------
    def refresh_installed(self) -> None:
        """Reload the installed list in the background."""
        kind = self.kind_filter.currentText()
        kind_arg = None if kind == "all kinds" else kind

        def done(checked: list[tuple[Any, Any]]) -> None:
            self.records = [record for record, _health in checked]
            fill_table(self.installed, [installed_row(r, h) for r, h in checked], [r.id for r in self.records])
            unwell = {r.id for r, h in checked if h.status != "ok"}
            for row in range(self.installed.rowCount()):  # by key: the table may be sorted
                item = self.installed.item(row, len(INSTALLED_COLUMNS) - 1)
                if item is not None and item.data(Qt.ItemDataRole.UserRole) in unwell:
                    item.setForeground(QColor(DAMAGED_COLOUR))
            damaged = sum(1 for _r, h in checked if h.status == "damaged")
            self.disk_label.setText(disk_summary(self.records) + (f" · {damaged} damaged" if damaged else ""))

        self.context.tasks.run(lambda _s: list_models(self.make_manager(), kind_arg), on_done=done,
                               on_error=self._failed)

    def import_paths(self, paths: Sequence[str]) -> None:
        """Register model files or folders where they are."""
        def work(state: TaskState) -> list[str]:
            manager = self.make_manager()
            lines = []
            for path in paths:
                if state.cancelled:
                    break
                try:
                    report = manager.import_path(path, cancelled=lambda: state.cancelled)
                except Exception as exc:
                    lines.append(f"{Path(path).name}: {getattr(exc, 'message', exc)}")
                    continue
                names = ", ".join(r.id for r in report.records) or "no model files"
                skipped = f" ({len(report.skipped)} skipped)" if report.skipped else ""
                lines.append(f"{Path(path).name}: {names}{skipped}")
            return lines

        def done(lines: list[str]) -> None:
            self._say("Imported — " + "; ".join(lines))
            self.refresh_installed()

        self._say("Importing…")
        self.context.tasks.run(work, on_done=done, on_error=self._failed)

    def scan(self) -> None:
        """Register the models LM Studio, Ollama and the Hugging Face cache keep."""
        def done(report: Any) -> None:
            self._say(f"Scan: {len(report.added)} new, {len(report.updated)} already known, "
                      f"{len(report.skipped)} skipped")
            self.refresh_installed()

        self._say("Scanning LM Studio, Ollama and the Hugging Face cache…")
        self.context.tasks.run(lambda _s: self.make_manager().scan(), on_done=done, on_error=self._failed)

    def delete_models(self, model_ids: Sequence[str]) -> None:
        """Unregister models, deleting the files the workbench downloaded."""
        def work(_state: TaskState) -> list[str]:
            manager = self.make_manager()
            lines = []
            for model_id in model_ids:
                result = manager.remove(model_id)
                freed = f", freed {result.freed_bytes / 2**20:.0f} MB" if result.freed_bytes else ""
                lines.append(f"{model_id} removed{freed}" + (f" ({result.note})" if result.note else ""))
            return lines

        def done(lines: list[str]) -> None:
            self._say("; ".join(lines))
            self.refresh_installed()

        self.context.tasks.run(work, on_done=done, on_error=self._failed)

    def _selected_models(self) -> list[str]:
        rows = sorted({index.row() for index in self.installed.selectedIndexes()})
        items = [self.installed.item(r, 0) for r in rows]
        return [str(item.data(Qt.ItemDataRole.UserRole)) for item in items if item is not None]

    def _ask_delete(self) -> None:
        chosen = self._selected_models()
        starters = [m for m in chosen if any(r.id == m and r.source == "package" for r in self.records)]
        if starters:
            self._say(f"{', '.join(starters)} ship with the workbench (a Python package) and cannot be deleted here")
            return
        if not chosen:
            return
        answer = QMessageBox.question(self, "Delete models", f"Remove {', '.join(chosen)}? Files the workbench "
                                      "downloaded are deleted; imported files stay on disk.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_models(chosen)

    def _ask_import_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import model files", "",
                                                "Models (*.gguf *.onnx *.safetensors *.pth *.pt *.bif *.xdsl "
                                                "*.net *.uai *.dsc *.dne *.xml);;All files (*)")
        if paths:
            self.import_paths(paths)

    def _ask_import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import every model in a folder")
        if path:
            self.import_paths([path])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept files and folders."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Import what was dropped."""
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    def shutdown(self) -> None:
        """Cancel a running download (the task runner waits for it)."""
        self._closed = True
        self.cancel_download()
