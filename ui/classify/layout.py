"""The Classify page's widgets and their places (built once, like a Designer form)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
)

from ui.classify.eval import EvalPanel
from ui.classify.plots import LivePerformance
from ui.classify.results import ResultsModel, make_results_view
from ui.classify.settings import RunSettings
from ui.classify.summary import LATENCY_EXPLAINED
from ui.preferences import restore_splitter
from ui.widgets.boxes import column_of
from ui.widgets.worker_status import WorkerStatusRow

if TYPE_CHECKING:
    from ui.classify.page import ClassifyPage


def build_layout(self: ClassifyPage) -> None:
    """Create the page's widgets as attributes of ``self`` and lay them out."""
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
    self.keep_results = QCheckBox("Keep earlier results")
    self.keep_results.setToolTip("Add the next images or folder after the results shown, instead of replacing "
                                 "them")
    self.progress = QProgressBar()
    self.progress.setTextVisible(True)
    self.progress.setMaximumWidth(260)
    self.progress.setAccessibleName("Classification progress")
    self.progress_label = QLabel("Progress")
    self.progress_label.setBuddy(self.progress)
    actions = QHBoxLayout()
    for button in (self.open_images_button, self.open_folder_button, self.run_again_button, self.eval_button,
                   self.cancel_button, self.export_button):
        actions.addWidget(button)
    actions.addWidget(self.keep_results)
    actions.addStretch(1)
    actions.addWidget(self.progress_label)
    actions.addWidget(self.progress)

    self.results = ResultsModel(self)
    self.results_view = make_results_view(self.results)
    self.results_view.setAcceptDrops(False)
    self.results_view.viewport().setAcceptDrops(False)
    self.hint = QLabel("Drop images or folders here, or use <b>Open images…</b> / <b>Open folder…</b>.")
    self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
    self.eval_panel = EvalPanel()
    self.tabs = QTabWidget()
    self.tabs.addTab(column_of(self.hint, self.results_view, stretch=self.results_view), "Results")
    self.tabs.addTab(self.eval_panel, "Evaluation")

    self.card_view = QTextBrowser()
    self.card_view.setOpenLinks(False)
    self.card_view.setHtml("<p>No model loaded yet.</p>")
    self.performance = LivePerformance()
    self.summary = QLabel("")
    self.summary.setWordWrap(True)
    self.summary.setToolTip(LATENCY_EXPLAINED)
    self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    side = QSplitter(Qt.Orientation.Vertical)
    side.addWidget(self.card_view)
    side.addWidget(self.performance)
    side.setSizes([320, 480])

    self.splitter = QSplitter(Qt.Orientation.Horizontal)
    self.splitter.addWidget(self.tabs)
    self.splitter.addWidget(column_of(side, self.summary, stretch=side))
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
