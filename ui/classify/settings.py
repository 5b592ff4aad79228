"""The Classify page's run settings: model, backend, precision, device and batch size, remembered between launches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget

from app.discovery import declared_option, find_spec
from ui.context import AppContext
from ui.widgets.device_picker import DevicePicker

# What the vision engine declares (its light spec; no engine code is imported). A missing engine leaves the
# lists empty: the page still opens, and loading says the engine is not installed.
_SPEC = find_spec("vision")
STARTER = _SPEC.default_model if _SPEC is not None else ""
_BACKEND, _PRECISION, _BATCH = (declared_option("vision", name) for name in ("backend", "precision", "batch"))
BACKENDS = tuple(str(c) for c in _BACKEND.choices)
PRECISIONS = tuple(str(c) for c in _PRECISION.choices)
MODEL_FILTER = "Image classifiers (*.onnx *.safetensors *.pth *.pt);;All files (*)"
_KEY = "classify/"


@dataclass(frozen=True)
class LoadChoice:
    """What a model load depends on; a run with a different choice reloads first."""

    model: str
    device: str
    backend: str
    precision: str

    def options(self) -> dict[str, Any]:
        """The engine's load options."""
        return {"backend": self.backend, "precision": self.precision}


class RunSettings(QWidget):
    """One row of controls; ``changed`` fires when any of them changes."""

    changed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = context.settings
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setMinimumContentsLength(18)
        self.model.setToolTip("A starter model id, a registered model id or a model file")
        self.model.addItem(STARTER)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Open a model file (.onnx, .safetensors, .pth)")
        browse.clicked.connect(self._browse)
        self.backend = _combo(BACKENDS, _BACKEND.help)
        self.precision = _combo(PRECISIONS, _PRECISION.help)
        self.device = DevicePicker(context, engine="vision")
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(int(_BATCH.default or 8))
        self.batch.setToolTip(_BATCH.help.capitalize())
        for label, widget in (("Model", self.model), (None, browse), ("Backend", self.backend),
                              ("Precision", self.precision), ("Device", self.device), ("Batch", self.batch)):
            if label:
                layout.addWidget(QLabel(label))
            layout.addWidget(widget)
        layout.addStretch(1)
        self._restore()
        for combo in (self.backend, self.precision):
            combo.currentIndexChanged.connect(self._changed)
        self.model.currentTextChanged.connect(self._changed)
        self.device.device_changed.connect(self._changed)
        self.batch.valueChanged.connect(self._changed)

    def choice(self) -> LoadChoice:
        """The load settings as chosen now."""
        return LoadChoice(self.model.currentText().strip() or STARTER, self.device.current_device(),
                          self.backend.currentText(), self.precision.currentText())

    def batch_size(self) -> int:
        """Images per inference call."""
        return int(self.batch.value())

    def set_models(self, entries: list[tuple[str, str]]) -> None:
        """Offer these (id, tooltip) models in the list, keeping the current text."""
        current = self.model.currentText()
        self.model.blockSignals(True)
        for model_id, tip in entries:
            if self.model.findText(model_id) < 0:
                self.model.addItem(model_id)
                self.model.setItemData(self.model.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentText(current)
        self.model.blockSignals(False)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image classifier", str(Path.home()), MODEL_FILTER)
        if path:
            self.model.setCurrentText(path)

    def _changed(self, *_args: Any) -> None:
        self._save()
        self.changed.emit()

    def _save(self) -> None:
        choice = self.choice()
        for key, value in (("model", choice.model), ("backend", choice.backend), ("precision", choice.precision),
                           ("device", choice.device), ("batch", self.batch_size())):
            self._settings.setValue(_KEY + key, value)

    def _restore(self) -> None:
        model = self._settings.value(_KEY + "model")
        if model:
            self.model.setCurrentText(str(model))
        for combo, key in ((self.backend, "backend"), (self.precision, "precision")):
            index = combo.findText(str(self._settings.value(_KEY + key, "")))
            if index >= 0:
                combo.setCurrentIndex(index)
        device = self._settings.value(_KEY + "device")
        if device:
            self.device.set_device(str(device))
        try:
            self.batch.setValue(int(str(self._settings.value(_KEY + "batch", 8))))
        except ValueError:
            pass


def _combo(items: tuple[str, ...], tip: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(list(items))
    combo.setToolTip(tip)
    return combo
