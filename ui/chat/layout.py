"""The Chat page's widgets and their places (built once, like a Designer form)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.chat.composer import Composer
from ui.chat.controls import ModelBar, SamplingPanel
from ui.chat.conversations import ConversationList
from ui.chat.stats import context_text
from ui.chat.view import ChatView

if TYPE_CHECKING:
    from ui.chat.page import ChatPage


def build_layout(self: ChatPage) -> None:
    """Create the page's widgets as attributes of ``self`` and lay them out."""
    self.conversations = ConversationList()
    self.model_bar = ModelBar(self.context)
    self.banner = QFrame()
    self.banner.setObjectName("banner")
    self.banner_text = QLabel()
    self.banner_text.setWordWrap(True)
    self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    self.restart_button = QPushButton("Restart")
    self.restart_button.setToolTip("Start a fresh worker and load the model again")
    banner_layout = QHBoxLayout(self.banner)
    banner_layout.addWidget(self.banner_text, 1)
    banner_layout.addWidget(self.restart_button)
    self.banner.hide()
    self.view = ChatView()
    self.edit_note = QLabel()
    self.edit_note.setObjectName("muted")
    self.edit_note.hide()
    self.composer = Composer(self.send)
    self.send_button = QPushButton("Send")
    self.send_button.setDefault(True)
    self.stop_button = QPushButton("Stop")
    self.stop_button.setEnabled(False)
    self.regenerate_button = QPushButton("Regenerate")
    self.regenerate_button.setToolTip("Answer the last question again (the old answer stays as a branch)")
    self.cancel_edit_button = QPushButton("Cancel edit")
    self.cancel_edit_button.hide()
    self.context_bar = QProgressBar()
    self.context_bar.setRange(0, 1000)
    self.context_bar.setTextVisible(False)
    self.context_bar.setMaximumHeight(8)
    self.context_label = QLabel(context_text(None, None))
    self.context_label.setObjectName("muted")

    buttons = QVBoxLayout()
    for button in (self.send_button, self.stop_button, self.regenerate_button, self.cancel_edit_button):
        buttons.addWidget(button)
    buttons.addStretch(1)
    composer_row = QHBoxLayout()
    composer_row.addWidget(self.composer, 1)
    composer_row.addLayout(buttons)
    context_row = QHBoxLayout()
    context_row.addWidget(self.context_label)
    context_row.addWidget(self.context_bar, 1)

    center = QWidget()
    center_layout = QVBoxLayout(center)
    center_layout.setContentsMargins(6, 6, 6, 6)
    center_layout.addWidget(self.model_bar)
    center_layout.addWidget(self.banner)
    center_layout.addWidget(self.view, 1)
    center_layout.addWidget(self.edit_note)
    center_layout.addLayout(composer_row)
    center_layout.addLayout(context_row)

    self.sampling = SamplingPanel()
    sampling_box = QGroupBox("Generation")
    QVBoxLayout(sampling_box).addWidget(self.sampling)
    self.plot_box = QGroupBox("Speed of this answer")
    self.plot_layout = QVBoxLayout(self.plot_box)
    self.plot_placeholder = QLabel("Tokens per second and the time between tokens, live while an answer "
                                   "streams.")
    self.plot_placeholder.setWordWrap(True)
    self.plot_placeholder.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    self.plot_placeholder.setObjectName("muted")
    self.plot_layout.addWidget(self.plot_placeholder)
    right = QWidget()
    right.setMinimumWidth(220)
    right_layout = QVBoxLayout(right)
    right_layout.setContentsMargins(6, 6, 6, 6)
    right_layout.addWidget(sampling_box)
    right_layout.addWidget(self.plot_box, 1)

    left = QWidget()
    left.setMinimumWidth(170)
    left_layout = QVBoxLayout(left)
    left_layout.setContentsMargins(6, 6, 0, 6)
    left_layout.addWidget(self.conversations)

    self.splitter = QSplitter(Qt.Orientation.Horizontal)
    for widget in (left, center, right):
        self.splitter.addWidget(widget)
    self.splitter.setStretchFactor(1, 1)
    self.splitter.setSizes([240, 720, 280])
    layout = QVBoxLayout(self)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(self.splitter)
    self._set_busy(False)
