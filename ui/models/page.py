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
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.models.view import (
    FILE_COLUMNS,
    INSTALLED_COLUMNS,
    SEARCH_COLUMNS,
    VERDICT_COLOURS,
    disk_summary,
    file_row,
    installed_row,
    progress_fraction,
    progress_text,
    search_row,
)
from ui.preferences import CACHE_KEY, ENDPOINT_KEY, text_setting
from ui.tasks import Task, TaskState


def _table(columns: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]], keys: Sequence[str]) -> None:
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for r, (row, key) in enumerate(zip(rows, keys, strict=True)):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(text)
            table.setItem(r, c, item)
    table.setSortingEnabled(True)


def _selected_key(table: QTableWidget) -> str | None:
    items = table.selectedItems()
    return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None


class ModelsPage(QWidget):
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
        self.installed = _table(INSTALLED_COLUMNS)
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

    def _hub_tab(self) -> QWidget:
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search the Hugging Face Hub (e.g. qwen, llama, smollm)")
        self.search_kind = QComboBox()
        self.search_kind.addItems(["llm", "vision"])
        self.search_kind.setToolTip("llm: GGUF repositories · vision: timm image classifiers")
        self.sort = QComboBox()
        self.sort.addItems(["downloads", "likes", "updated"])
        self.search_button = QPushButton("Search")
        self.results = _table(SEARCH_COLUMNS)
        self.files = _table(FILE_COLUMNS)
        self.files_label = QLabel("Select a repository to see its files and whether they fit this machine.")
        self.files_label.setObjectName("muted")
        self.files_label.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected file (or the repository's best default)")
        self.download_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.query, 1)
        row.addWidget(self.search_kind)
        row.addWidget(self.sort)
        row.addWidget(self.search_button)
        files_box = QWidget()
        files_layout = QVBoxLayout(files_box)
        files_layout.setContentsMargins(0, 0, 0, 0)
        files_layout.addWidget(self.files_label)
        files_layout.addWidget(self.files, 1)
        download_row = QHBoxLayout()
        download_row.addStretch(1)
        download_row.addWidget(self.download_button)
        files_layout.addLayout(download_row)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.results)
        splitter.addWidget(files_box)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(row)
        layout.addWidget(splitter, 1)
        self.query.returnPressed.connect(lambda: self.search(self.query.text()))
        self.search_button.clicked.connect(lambda: self.search(self.query.text()))
        self.results.itemSelectionChanged.connect(self._repo_selected)
        self.download_button.clicked.connect(self._download_selected)
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

    # --- installed ------------------------------------------------------------------------------
    def refresh_installed(self) -> None:
        """Reload the installed list in the background."""
        kind = self.kind_filter.currentText()
        kind_arg = None if kind == "all kinds" else kind

        def done(records: list[Any]) -> None:
            self.records = records
            _fill(self.installed, [installed_row(r) for r in records], [r.id for r in records])
            self.disk_label.setText(disk_summary(records))

        self.context.tasks.run(lambda _s: self.make_manager().list(kind_arg), on_done=done, on_error=self._failed)

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

    # --- the Hub --------------------------------------------------------------------------------
    def search(self, query: str) -> None:
        """Search the Hub in the background."""
        kind, sort = self.search_kind.currentText(), self.sort.currentText()

        def done(repos: list[Any]) -> None:
            self.repos = repos
            _fill(self.results, [search_row(r) for r in repos], [r.id for r in repos])
            self._say(f"{len(repos)} repositories" if repos else f"Nothing on the Hub matches {query!r}")

        self._say(f"Searching the Hub for {query!r}…")
        self.context.tasks.run(lambda _s: self.make_manager().search(query.strip(), kind=kind, sort=sort),
                               on_done=done, on_error=self._failed)

    def _repo_selected(self) -> None:
        repo = _selected_key(self.results)
        if repo:
            self.show_files(repo)

    def show_files(self, repo_id: str) -> None:
        """List a repository's files with sizes, quantization and fit verdicts."""
        def done(listing: Any) -> None:
            self.listing = listing
            rows = [file_row(r) for r in listing.rows]
            _fill(self.files, rows, [r.file.filename for r in listing.rows])
            for r, row in enumerate(rows):
                colour = VERDICT_COLOURS.get(row[-1])
                item = self.files.item(r, len(row) - 1)
                if colour and item is not None:
                    item.setForeground(QColor(colour))
            vram = f", {listing.free_vram / 2**30:.1f} GiB GPU memory" if listing.free_vram else ""
            self.files_label.setText(f"{repo_id} — verdicts for context {listing.n_ctx} against "
                                     f"{listing.free_ram / 2**30:.1f} GiB free RAM{vram}")
            self.download_button.setEnabled(self.download_task is None)

        self.files_label.setText(f"Listing the files of {repo_id}…")
        self.context.tasks.run(lambda _s: self.make_manager().files(repo_id), on_done=done, on_error=self._failed)

    def _download_selected(self) -> None:
        if self.listing is not None:
            self.download(self.listing.repo.repo, _selected_key(self.files))

    def download(self, repo_id: str, filename: str | None = None) -> Task | None:
        """Download (and verify, and register) a model with progress; one download at a time."""
        if self.download_task is not None:
            self._say("A download is already running")
            return None

        def work(state: TaskState) -> Any:
            manager = self.make_manager()
            return manager.pull(repo_id, filename,
                                on_progress=lambda p: state.progress(progress_fraction(p), progress_text(p)),
                                cancelled=lambda: state.cancelled)

        self.download_panel.show()
        self.download_bar.setValue(0)
        self.download_label.setText(f"Downloading {filename or repo_id}…")
        self.download_button.setEnabled(False)
        self.download_task = self.context.tasks.run(work, on_done=self._downloaded, on_error=self._download_failed,
                                                    on_progress=self._download_progress)
        return self.download_task

    def _download_progress(self, fraction: float, message: str) -> None:
        self.download_bar.setValue(round(fraction * 1000))
        self.download_label.setText(message)

    def _downloaded(self, result: Any) -> None:
        self.download_task = None
        self.download_panel.hide()
        self.download_button.setEnabled(self.listing is not None)
        self._say(f"Downloaded and verified {result.record.id} ({result.record.path})")
        self.refresh_installed()
        self.download_finished.emit("ok")

    def _download_failed(self, message: str, traceback: str) -> None:
        cancelled = self.download_task is not None and self.download_task.state.cancelled
        self.download_task = None
        self.download_panel.hide()
        self.download_button.setEnabled(self.listing is not None)
        if cancelled:
            self._say("Download cancelled; the partial file is kept, so downloading again resumes it")
            self.download_finished.emit("cancelled")
        else:
            self._failed(message, traceback)
            self.download_finished.emit("failed")

    def cancel_download(self) -> None:
        """Stop the running download."""
        if self.download_task is not None:
            self.download_task.cancel()
            self.download_label.setText("Cancelling…")

    def shutdown(self) -> None:
        """Cancel a running download (the task runner waits for it)."""
        self._closed = True
        self.cancel_download()
