"""What every page shares: the history, the background task runner, settings and the device list."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from app.history import History
from ui.tasks import TaskRunner


def open_gui_history(notices: list[str]) -> History:
    """The window's history: the real file, or one that keeps nothing when it cannot be opened (noticed)."""
    from app.history_open import open_history
    from core.paths import DataFolderError

    try:
        return open_history(on_notice=notices.append)
    except DataFolderError as exc:  # WORKBENCH_HOME names a file: still start, and say so
        notices.append(f"{exc}; runs will not be recorded")
        return History.in_memory(str(exc))


class AppContext(QObject):
    """Created once by the main window and handed to each page's constructor."""

    devices_ready = Signal(list)  # list[engines.base.Device]
    devices_failed = Signal(str)

    def __init__(self, history: History | None = None, settings: QSettings | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        # What went wrong opening the data (a damaged history moved aside, a read-only folder): the window shows it.
        self.notices: list[str] = []
        self.history = history if history is not None else open_gui_history(self.notices)
        self.settings = settings if settings is not None else QSettings("local-ai-workbench", "workbench")
        self.tasks = TaskRunner(self)
        self.devices: list[Any] = []
        self.cluster_devices: list[Any] = []  # other machines' devices (Settings > Cluster), ids NODE/...
        self.device_report: dict[str, Any] = {}
        self.closed = False
        self._service: Any = None

    @property
    def service(self) -> Any:
        """The model service every page's models live in (created on first use: start-up stays light)."""
        if self._service is None:
            from app.service import ModelService

            self._service = ModelService(self.history)
        return self._service

    def probe_devices(self, refresh: bool = False) -> None:
        """Probe devices in the background (a subprocess: torch is never imported by the GUI)."""
        if self.closed:
            return
        def work(_state: Any) -> dict[str, Any]:
            from app.devices import probe_devices_cached

            return probe_devices_cached(refresh=refresh)

        self.tasks.run(work, on_done=self._devices_done, on_error=lambda msg, _tb: self.devices_failed.emit(msg))

    def _devices_done(self, report: dict[str, Any]) -> None:
        from app.devices import devices_from_json

        self.device_report = report
        self.devices = devices_from_json(report["devices"]) + self.cluster_devices
        self.devices_ready.emit(self.devices)

    def set_cluster_devices(self, devices: list[Any]) -> None:
        """Replace the cluster nodes' devices in every device picker (this machine's stay)."""
        local = [d for d in self.devices if d not in self.cluster_devices]
        self.cluster_devices = list(devices)
        self.devices = local + self.cluster_devices
        self.devices_ready.emit(self.devices)

    def shutdown(self) -> None:
        """Stop background work and close the history."""
        self.closed = True
        self.tasks.shutdown()
        if self._service is not None:
            self._service.close()
        self.history.close()
