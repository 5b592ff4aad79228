"""The Bayes page's widgets and their places (built once, like a Designer form)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.bayes.graph import NetworkScene, NetworkView
from ui.bayes.panel import BayesPanel
from ui.preferences import restore_splitter
from ui.widgets.device_picker import DevicePicker
from ui.widgets.worker_status import WorkerStatusRow

if TYPE_CHECKING:
    from ui.bayes.page import BayesPage

METHODS = (("exact (junction tree)", "jt"), ("exact (variable elimination)", "ve"),
           ("likelihood weighting", "lw"), ("Gibbs sampling", "gibbs"))
_KEY = "bayes/"


def build_form(self: BayesPage) -> None:
    """Create the page's widgets as attributes of ``self`` and lay them out."""
    self.network_combo = QComboBox()
    self.network_combo.setMinimumContentsLength(14)
    self.network_combo.setToolTip("A network shipped with the app, or one opened from a file")
    self.open_button = QPushButton("Open file…")
    self.method_combo = QComboBox()
    for label, method in METHODS:
        self.method_combo.addItem(label, method)
    saved = str(self.context.settings.value(_KEY + "method", "jt"))
    self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(saved)))
    self.device = DevicePicker(self.context, engine="bayes")
    device = self.context.settings.value(_KEY + "device")
    if device:
        self.device.set_device(str(device))
    self.fit_button = QPushButton("Fit")
    self.fit_button.setToolTip("Show the network at a readable size (all of it when it fits; else scroll). "
                               "The wheel zooms, dragging the background pans")
    self.relayout_button = QPushButton("Re-layout")
    self.progress = QProgressBar()
    self.progress.setMaximumWidth(160)
    self.progress.setRange(0, 1)
    self.progress.hide()  # shown while loading or sampling
    top = QHBoxLayout()
    labelled: list[tuple[str, QWidget]] = [("Network", self.network_combo), ("", self.open_button),
                                           ("Method", self.method_combo), ("Device", self.device)]
    for label, widget in labelled:
        if label:
            top.addWidget(QLabel(label))
        top.addWidget(widget)
    top.addStretch(1)
    for tail in (self.fit_button, self.relayout_button, self.progress):
        top.addWidget(tail)

    self.scene = NetworkScene(self)
    self.view = NetworkView(self.scene)
    self.panel = BayesPanel()
    self.splitter = QSplitter(Qt.Orientation.Horizontal)
    self.splitter.addWidget(self.view)
    self.splitter.addWidget(self.panel)
    self.splitter.setStretchFactor(0, 3)
    self.splitter.setStretchFactor(1, 1)
    restore_splitter(self.splitter, self.context.settings, _KEY + "splitter", [900, 420])

    self.status_row = WorkerStatusRow()
    self.status = self.status_row.label
    self.restart_button = self.status_row.restart_button

    layout = QVBoxLayout(self)
    layout.addLayout(top)
    layout.addWidget(self.splitter, 1)
    layout.addWidget(self.status_row)
