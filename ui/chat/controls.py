"""The Chat page's controls: the model bar (model, device, context, load, fit estimate) and sampling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.discovery import declared_option
from ui.context import AppContext
from ui.widgets.device_picker import DevicePicker

# The window starts from the engine's own defaults (its spec declares them as chat op options), so it and the
# API agree; these stand in only where the LLM engine is not installed.
_FALLBACK = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1, "max_tokens": 512}


def _sampling_defaults() -> dict[str, Any]:
    defaults = dict(_FALLBACK)
    for name in _FALLBACK:
        declared = declared_option("llm", f"chat.{name}").default  # one lookup per option
        if declared is not None:
            defaults[name] = declared
    return {**defaults, "seed": -1}


SAMPLING_DEFAULTS: dict[str, Any] = _sampling_defaults()


class ModelBar(QWidget):
    """Choose a GGUF model, a device and a context size; load it; see progress and the memory estimate."""

    load_requested = Signal()
    model_changed = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox()
        self.model.setEditable(False)
        self.model.setMinimumContentsLength(14)
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setToolTip("Installed GGUF models (starter models and the ones in Models)")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Load a .gguf file from disk")
        self.device = DevicePicker(context, engine="llm")
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(0, 1 << 20)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSpecialValueText("auto")
        self.n_ctx.setMinimumWidth(90)
        self.n_ctx.setToolTip(declared_option("llm", "n_ctx").help.capitalize())
        self.load_button = QPushButton("Load")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel("No model loaded")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(120)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Model"))
        row.addWidget(self.model, 1)
        row.addWidget(self.open_button)
        row.addWidget(self.load_button)
        settings_row = QHBoxLayout()
        settings_row.setContentsMargins(0, 0, 0, 0)
        settings_row.addWidget(QLabel("Device"))
        settings_row.addWidget(self.device)
        context_label = QLabel("Context")
        context_label.setBuddy(self.n_ctx)
        settings_row.addWidget(context_label)
        settings_row.addWidget(self.n_ctx)
        settings_row.addWidget(self.progress)
        settings_row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addLayout(settings_row)
        self.load_button.clicked.connect(self.load_requested)
        self.open_button.clicked.connect(self._open_file)
        self.model.currentIndexChanged.connect(lambda _i: self.model_changed.emit(self.model_ref()))

    def set_models(self, models: Sequence[tuple[str, str]], current: str | None) -> None:
        """Fill the list with (ref, label) pairs and select ``current`` (added when not listed)."""
        self.model.blockSignals(True)
        self.model.clear()
        for ref, label in models:
            self.model.addItem(label, ref)
        if current and self.model.findData(current) < 0:
            self.model.addItem(current, current)
        index = self.model.findData(current) if current else 0
        self.model.setCurrentIndex(max(index, 0))
        self.model.blockSignals(False)
        self.model_changed.emit(self.model_ref())

    def model_ref(self) -> str:
        """The chosen model: a starter id, a registry id or a path."""
        data = self.model.currentData()
        return str(data) if data else ""

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.select_path(path)

    def select_path(self, path: str) -> None:
        """Choose a model file by path."""
        if self.model.findData(path) < 0:
            self.model.addItem(path.rsplit("/", 1)[-1], path)
        self.model.setCurrentIndex(self.model.findData(path))

    def load_options(self) -> dict[str, Any]:
        """Options for the LLM engine's load."""
        return {"n_ctx": self.n_ctx.value()} if self.n_ctx.value() else {}

    def set_busy(self, busy: bool, message: str = "", fraction: float = -1.0) -> None:
        """Show loading progress (an indeterminate bar when ``fraction`` < 0)."""
        self.progress.setVisible(busy)
        if busy:
            if fraction < 0:
                self.progress.setRange(0, 0)
            else:
                self.progress.setRange(0, 100)
                self.progress.setValue(round(fraction * 100))
        if message:
            self.status.setText(message)
        for widget in (self.load_button, self.model, self.open_button, self.device, self.n_ctx):
            widget.setEnabled(not busy)


class SamplingPanel(QWidget):
    """System prompt and sampling parameters of the current conversation."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("System prompt (optional)")
        self.system_prompt.setMaximumHeight(90)
        self.temperature = self._double(0.0, 5.0, 0.05, "Randomness: 0 always picks the likeliest token")
        self.top_p = self._double(0.01, 1.0, 0.05, "Nucleus sampling: keep the likeliest tokens up to this mass")
        self.min_p = self._double(0.0, 1.0, 0.01, "Drop tokens less likely than this fraction of the best one")
        self.repeat_penalty = self._double(0.1, 10.0, 0.05, "Penalty for repeating recent tokens (1 = off)")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setToolTip("Keep only the k likeliest tokens (0 = off)")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 1 << 20)
        self.max_tokens.setToolTip("Longest answer in tokens")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("Same seed + same settings = same answer")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.system_prompt)
        for label, widget in (("Temperature", self.temperature), ("Top-p", self.top_p), ("Top-k", self.top_k),
                              ("Min-p", self.min_p), ("Repeat penalty", self.repeat_penalty),
                              ("Max tokens", self.max_tokens), ("Seed", self.seed)):
            form.addRow(label, widget)
            signal = getattr(widget, "valueChanged")  # noqa: B009 - both spin box kinds
            signal.connect(lambda *_a: self.changed.emit())
        self.system_prompt.textChanged.connect(self.changed)
        self.set_values(SAMPLING_DEFAULTS)

    @staticmethod
    def _double(low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setToolTip(tip)
        return box

    def values(self) -> dict[str, Any]:
        """The sampling parameters as the LLM engine's chat op takes them."""
        out: dict[str, Any] = {
            "temperature": round(self.temperature.value(), 3), "top_p": round(self.top_p.value(), 3),
            "top_k": self.top_k.value(), "min_p": round(self.min_p.value(), 3),
            "repeat_penalty": round(self.repeat_penalty.value(), 3), "max_tokens": self.max_tokens.value(),
        }
        if self.seed.value() >= 0:
            out["seed"] = self.seed.value()
        return out

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show stored parameters (missing ones keep the defaults)."""
        merged = {**SAMPLING_DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
        self.blockSignals(True)
        try:
            self.temperature.setValue(float(merged["temperature"]))
            self.top_p.setValue(float(merged["top_p"]))
            self.top_k.setValue(int(merged["top_k"]))
            self.min_p.setValue(float(merged["min_p"]))
            self.repeat_penalty.setValue(float(merged["repeat_penalty"]))
            self.max_tokens.setValue(int(merged["max_tokens"]))
            self.seed.setValue(int(merged["seed"]))
        finally:
            self.blockSignals(False)

    def system_text(self) -> str:
        """The system prompt."""
        return self.system_prompt.toPlainText().strip()

    def set_system_text(self, text: str | None) -> None:
        """Show a conversation's system prompt."""
        self.system_prompt.blockSignals(True)
        self.system_prompt.setPlainText(text or "")
        self.system_prompt.blockSignals(False)
