"""Status-bar gauges: CPU %, RAM and (where readable) GPU memory of the machine, sampled on a timer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from ui.tasks import TaskRunner


@dataclass(frozen=True)
class MachineLoad:
    """One reading of the whole machine."""

    cpu_percent: float
    ram_used: int
    ram_total: int
    gpu_used: int | None = None
    gpu_total: int | None = None


def read_gpu_memory() -> tuple[int, int] | None:
    """Used and total bytes of the first NVIDIA GPU; None where none can be read."""
    from core.nvml import gpu_memory

    gpus = gpu_memory()
    return (gpus[0].used, gpus[0].total) if gpus else None


def read_machine_load(with_gpu: bool) -> MachineLoad:
    """CPU since the previous call, RAM now and, when asked, GPU memory (psutil, no blocking wait)."""
    import psutil

    memory = psutil.virtual_memory()
    gpu = read_gpu_memory() if with_gpu else None
    return MachineLoad(float(psutil.cpu_percent(interval=None)), int(memory.total - memory.available),
                       int(memory.total), gpu[0] if gpu else None, gpu[1] if gpu else None)


def _gib(count: float) -> str:
    return f"{count / 2**30:.1f}"


class _Gauge(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(4)
        self.title = QLabel(title)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(70, 10)
        self.value = QLabel("–")
        self.value.setMinimumWidth(40)
        for widget in (self.title, self.bar, self.value):
            layout.addWidget(widget)

    def set(self, fraction: float, text: str) -> None:
        self.bar.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.value.setText(text)


class ResourceGauges(QWidget):
    """CPU, RAM and GPU memory gauges; the reading runs on the task runner, never on the UI thread."""

    def __init__(self, tasks: TaskRunner, interval_ms: int = 1000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.cpu = _Gauge("CPU")
        self.ram = _Gauge("RAM")
        self.gpu = _Gauge("GPU")
        self.gpu.hide()
        for gauge in (self.cpu, self.ram, self.gpu):
            layout.addWidget(gauge)
        self._with_gpu = True  # turned off after the first reading finds no GPU
        self._pending = False
        self.last: MachineLoad | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.sample)
        self._timer.start()

    def sample(self) -> None:
        """Take one reading in the background (skipped while the previous one is still running)."""
        if self._pending:
            return
        self._pending = True
        with_gpu = self._with_gpu
        self._tasks.run(lambda _state: read_machine_load(with_gpu), on_done=self._show,
                        on_error=self._failed)

    def _failed(self, _message: str, _tb: str) -> None:
        self._pending = False

    def _show(self, load: Any) -> None:
        self._pending = False
        self.last = load
        self.cpu.set(load.cpu_percent / 100, f"{load.cpu_percent:.0f} %")
        self.ram.set(load.ram_used / max(load.ram_total, 1), f"{_gib(load.ram_used)}/{_gib(load.ram_total)} GiB")
        if load.gpu_total:
            self.gpu.show()
            self.gpu.set(load.gpu_used / load.gpu_total, f"{_gib(load.gpu_used)}/{_gib(load.gpu_total)} GiB")
        else:
            self._with_gpu = False
            self.gpu.hide()

    def stop(self) -> None:
        """Stop sampling."""
        self._timer.stop()
