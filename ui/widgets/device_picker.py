"""A combo box of the device ids this machine offers (``workbench devices``), filtered by backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from weakref import WeakSet

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from ui.context import AppContext

# Which device backends each engine can use; "cpu" is always offered.
ENGINE_BACKENDS: dict[str, tuple[str, ...]] = {
    "llm": ("cpu", "llama.cpp"),
    "vision": ("cpu", "torch", "onnxruntime"),
    "bayes": ("cpu", "torch"),
}
# Execution providers that send the work to a remote service: never a local device to pick.
REMOTE_PROVIDERS = ("AzureExecutionProvider",)


def device_label(device: Any) -> str:
    """What the list shows for one device: its id and, when it says more, its name."""
    if device.id == "cpu":
        return "cpu"
    name = str(getattr(device, "name", "") or "")
    memory = getattr(device, "memory_bytes", None)
    extra = f" — {name}" if name and name != device.id and not device.id.startswith("ort:") else ""
    if memory and getattr(device, "kind", "") != "cpu":
        extra += f" ({memory / 2**30:.1f} GiB)"
    return f"{device.id}{extra}"


def filter_devices(devices: Iterable[Any], backends: Sequence[str] | None) -> list[Any]:
    """The devices whose backend is in ``backends`` (all when None), one entry per id, cpu first."""
    seen: set[str] = set()
    chosen: list[Any] = []
    for device in devices:
        if backends is not None and device.backend not in backends:
            continue
        if device.id in seen or any(remote in device.id for remote in REMOTE_PROVIDERS):
            continue
        seen.add(device.id)
        chosen.append(device)
    chosen.sort(key=lambda d: d.id != "cpu")
    return chosen


_probing: WeakSet[AppContext] = WeakSet()


def ensure_devices(context: AppContext) -> None:
    """Start the device probe once per context (every picker and the main window may ask)."""
    if context.devices or context in _probing:
        return
    _probing.add(context)
    context.devices_failed.connect(lambda _message: _probing.discard(context))
    context.probe_devices()


class DevicePicker(QComboBox):
    """Lists device ids from ``AppContext.devices``; ``cpu`` is there at once, the rest after the probe."""

    device_changed = Signal(str)

    def __init__(self, context: AppContext, backends: Sequence[str] | None = ("cpu",),
                 parent: QWidget | None = None, *, engine: str | None = None) -> None:
        super().__init__(parent)
        if engine is not None:
            backends = ENGINE_BACKENDS.get(engine, ("cpu",))
        self._context = context
        self._backends = tuple(backends) if backends is not None else None
        self._wanted: str | None = None
        self.setToolTip("Where the model runs (the ids of `workbench devices`)")
        self.setMinimumContentsLength(10)
        self.currentIndexChanged.connect(self._emit_changed)
        context.devices_ready.connect(self._fill)
        self._fill(context.devices)
        # The probe starts a subprocess: not while the window is still opening.
        QTimer.singleShot(1500, self, lambda: ensure_devices(context))

    def _fill(self, devices: Sequence[Any]) -> None:
        keep = self._wanted or self.current_device()
        self.blockSignals(True)
        self.clear()
        found = filter_devices(devices, self._backends)
        if not any(d.id == "cpu" for d in found):
            self.addItem("cpu", "cpu")
        for device in found:
            self.addItem(device_label(device), device.id)
            self.setItemData(self.count() - 1, f"{device.backend}: {device.name}", Qt.ItemDataRole.ToolTipRole)
        index = self.findData(keep) if keep else -1
        self.setCurrentIndex(max(index, 0))
        if index >= 0:
            self._wanted = None
        self.blockSignals(False)
        if self.current_device() != keep:
            self._emit_changed()

    def _emit_changed(self, *_args: Any) -> None:
        self.device_changed.emit(self.current_device())

    def current_device(self) -> str:
        """The chosen device id (``cpu`` until the probe has answered)."""
        data = self.currentData()
        return str(data) if data else "cpu"

    def set_device(self, device_id: str) -> None:
        """Choose ``device_id``; when it is not listed yet it is chosen once the probe finds it."""
        index = self.findData(device_id)
        if index >= 0:
            self.setCurrentIndex(index)
            self._wanted = None
        else:
            self._wanted = device_id

    def device_ids(self) -> list[str]:
        """Every id listed."""
        return [str(self.itemData(i)) for i in range(self.count())]
