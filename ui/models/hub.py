"""The Models page's Hub tab: search, a repository's files with fit verdicts, one download at a time.

Mixed into :class:`ui.models.page.ModelsPage`, which provides ``context``, ``make_manager``, ``_say``,
``_failed``, ``refresh_installed`` and the download panel.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from ui.models.tables import fill_table, make_table, selected_key
from ui.models.view import (
    FILE_COLUMNS,
    SEARCH_COLUMNS,
    VERDICT_COLOURS,
    file_row,
    progress_fraction,
    progress_text,
    search_row,
)
from ui.tasks import Task, TaskState
from ui.widgets.boxes import column_of, row_of


class HubTab:
    """Hub search, file listing and downloads (a mixin of the Models page)."""

    def _hub_tab(self) -> QWidget:
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search the Hugging Face Hub (e.g. qwen, llama, smollm)")
        self.search_kind = QComboBox()
        self.search_kind.addItems(["llm", "vision"])
        self.search_kind.setToolTip("llm: GGUF repositories · vision: timm image classifiers")
        self.sort = QComboBox()
        self.sort.addItems(["downloads", "likes", "updated"])
        self.search_button = QPushButton("Search")
        self.results = make_table(SEARCH_COLUMNS)
        self.files = make_table(FILE_COLUMNS)
        self.files_label = QLabel("Select a repository to see its files and whether they fit this machine.")
        self.files_label.setObjectName("muted")
        self.files_label.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected file (or the repository's best default)")
        self.download_button.setEnabled(False)
        download_row = QHBoxLayout()
        download_row.addStretch(1)
        download_row.addWidget(self.download_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.results)
        splitter.addWidget(column_of(self.files_label, self.files, download_row, stretch=self.files))
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(row_of(self.query, self.search_kind, self.sort, self.search_button, stretch=self.query))
        layout.addWidget(splitter, 1)
        self.query.returnPressed.connect(lambda: self.search(self.query.text()))
        self.search_button.clicked.connect(lambda: self.search(self.query.text()))
        self.results.itemSelectionChanged.connect(self._repo_selected)
        self.download_button.clicked.connect(self._download_selected)
        return tab

    # --- the Hub --------------------------------------------------------------------------------
    def search(self, query: str) -> None:
        """Search the Hub in the background."""
        kind, sort = self.search_kind.currentText(), self.sort.currentText()

        def done(repos: list[Any]) -> None:
            self.repos = repos
            fill_table(self.results, [search_row(r) for r in repos], [r.id for r in repos])
            self._say(f"{len(repos)} repositories" if repos else f"Nothing on the Hub matches {query!r}")

        self._say(f"Searching the Hub for {query!r}…")
        self.context.tasks.run(lambda _s: self.make_manager().search(query.strip(), kind=kind, sort=sort),
                               on_done=done, on_error=self._failed)

    def _repo_selected(self) -> None:
        repo = selected_key(self.results)
        if repo:
            self.show_files(repo)

    def show_files(self, repo_id: str) -> None:
        """List a repository's files with sizes, quantization and fit verdicts."""
        def done(listing: Any) -> None:
            self.listing = listing
            rows = [file_row(r) for r in listing.rows]
            fill_table(self.files, rows, [r.file.filename for r in listing.rows])
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
            self.download(self.listing.repo.repo, selected_key(self.files))

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
