"""A page's status line with the Restart button that appears when its engine worker died."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class WorkerStatusRow(QWidget):
    """Selectable status text (red for errors) and a hidden "Restart worker" button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.restart_button = QPushButton("Restart worker")
        self.restart_button.setToolTip("Start a fresh worker and load the model again")
        self.restart_button.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.restart_button)

    def show_status(self, text: str, error: bool = False) -> None:
        """Show a message; errors in red."""
        self.label.setStyleSheet("color: #d64545;" if error else "")
        self.label.setText(text)
