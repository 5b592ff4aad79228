"""The Compare page's settings form: workloads, devices, models and how long to measure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.compare.plan import CompareSettings, PlanError, declared
from app.compare.workload import workload_ids

SETTINGS_KEY = "compare/form"
QUANT_OFFERED = ("Q8_0", "Q4_0")


def _checks(names: Sequence[str], checked: Sequence[str]) -> tuple[QWidget, dict[str, QCheckBox]]:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    found = {}
    for name in names:
        check = QCheckBox(name)
        check.setChecked(name in checked)
        row.addWidget(check)
        found[name] = check
    row.addStretch(1)
    return box, found


def _numbers(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise PlanError(f"{what}: whole numbers separated by commas, not {text!r}") from None
    return values


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise PlanError(f"endpoint rates: numbers separated by commas, not {text!r}") from None


def usable_device_ids(devices: Sequence[Any]) -> set[str]:
    """The ids at least one comparison engine can run on (engine specs are light: no engine is imported)."""
    from app.discovery import discover

    found = {"cpu"}
    for spec in discover().specs.values():
        if spec.compare_workload:
            found.update(spec.supported_devices(devices))
    return found


class CompareForm(QWidget):
    """Builds :class:`CompareSettings` from what the user chose; remembers it between launches."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        defaults = CompareSettings()  # the models and methods the engines declare
        self._methods = defaults.bayes_methods

        what = QGroupBox("Workloads and devices")
        form = QFormLayout(what)
        box, self.workloads = _checks(workload_ids(), defaults.workloads)
        form.addRow("Workloads", box)
        self.devices = QListWidget()
        self.devices.setMaximumHeight(72)
        self.devices.setToolTip("Each checked device runs every configuration its engines support")
        form.addRow("Devices", self.devices)
        layout.addWidget(what)

        llm = QGroupBox("LLM: llama-bench pp / tg, TTFT")
        form = QFormLayout(llm)
        self.llm_model = QLineEdit(defaults.llm_model)
        form.addRow("Model", self.llm_model)
        self.llm_threads = QLineEdit()
        self.llm_threads.setPlaceholderText("1, 2 … cores")
        form.addRow("CPU threads", self.llm_threads)
        box, self.quantize = _checks(QUANT_OFFERED, ())
        box.setToolTip("Derive these quantizations locally with llama.cpp's quantizer and compare them too")
        form.addRow("Also derive", box)
        self.n_prompt = QSpinBox(minimum=0, maximum=8192, value=512)
        self.n_gen = QSpinBox(minimum=0, maximum=4096, value=128)
        tokens = QWidget()
        row = QHBoxLayout(tokens)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.n_prompt)
        row.addWidget(self.n_gen)
        form.addRow("pp / tg tokens", tokens)
        layout.addWidget(llm)

        vision = QGroupBox("Vision: latency, images/s, agreement")
        form = QFormLayout(vision)
        self.vision_model = QLineEdit(defaults.vision_model)
        form.addRow("Model", self.vision_model)
        backends, precisions = declared("vision", "backends"), declared("vision", "precisions")
        box, self.backends = _checks(backends, backends)
        form.addRow("Backends", box)
        box, self.precisions = _checks(precisions, precisions)
        box.setToolTip("fp16 runs only on accelerators; int8 only through ONNX Runtime")
        form.addRow("Precisions", box)
        self.batch_sizes = QLineEdit("1, 2, 4, 8")
        form.addRow("Batch sizes", self.batch_sizes)
        layout.addWidget(vision)

        bayes = QGroupBox("Bayes: compile, all marginals")
        form = QFormLayout(bayes)
        self.network = QLineEdit(defaults.bayes_network)
        form.addRow("Network", self.network)
        box, self.methods = _checks(self._methods, self._methods)
        form.addRow("Methods", box)
        self.samples = QSpinBox(minimum=100, maximum=10_000_000, value=10_000, singleStep=1000)
        form.addRow("Samples (lw, gibbs)", self.samples)
        layout.addWidget(bayes)

        serving = QGroupBox("Endpoints: OpenAI-compatible servers under load")
        form = QFormLayout(serving)
        self.endpoints = QLineEdit()
        self.endpoints.setPlaceholderText("http://127.0.0.1:8080=model, http://gpu-box:8000 …")
        self.endpoints.setToolTip("Each server is a device beside the local ones, measured by the serving "
                                  "benchmark (the model: after '=', or the first /v1/models lists)")
        form.addRow("URLs", self.endpoints)
        self.endpoint_concurrency = QLineEdit("1, 4")
        form.addRow("Concurrency", self.endpoint_concurrency)
        self.endpoint_rates = QLineEdit()
        self.endpoint_rates.setPlaceholderText("none (e.g. 0.5, 1, 2)")
        self.endpoint_rates.setToolTip("Also measure at these arrival rates (requests/s, Poisson, no cap)")
        form.addRow("Rates (req/s)", self.endpoint_rates)
        self.endpoint_goodput = QLineEdit()
        self.endpoint_goodput.setPlaceholderText("ttft:500, tpot:100")
        self.endpoint_goodput.setToolTip("SLOs in ms: goodput counts the requests within every one")
        form.addRow("Goodput SLOs", self.endpoint_goodput)
        self.endpoint_prompts = QSpinBox(minimum=1, maximum=10_000, value=8)
        form.addRow("Requests per point", self.endpoint_prompts)
        layout.addWidget(serving)

        how = QGroupBox("Measurement")
        form = QFormLayout(how)
        self.repeat = QSpinBox(minimum=0, maximum=10_000, value=0)
        self.repeat.setSpecialValueText("default")
        self.repeat.setToolTip("Measured repetitions after warm-up; default: llm 3, vision 20, bayes 10")
        form.addRow("Repetitions", self.repeat)
        self.duration = QDoubleSpinBox(minimum=0.0, maximum=3600.0, value=0.0, decimals=1, suffix=" s")
        self.duration.setSpecialValueText("off")
        self.duration.setToolTip("Measure each test for this long instead of a number of repetitions")
        form.addRow("Or measure for", self.duration)
        self.warmup = QSpinBox(minimum=0, maximum=100, value=2)
        form.addRow("Warm-up runs", self.warmup)
        layout.addWidget(how)
        layout.addStretch(1)

        # A workload that is not ticked is not run: its options are greyed so nobody tunes them in vain.
        self.groups = {"llm": llm, "vision": vision, "bayes": bayes}
        for name, check in self.workloads.items():
            group = self.groups.get(name)
            if group is not None:
                check.toggled.connect(group.setEnabled)
                group.setEnabled(check.isChecked())

        for check in (*self.workloads.values(), *self.quantize.values(), *self.backends.values(),
                      *self.precisions.values(), *self.methods.values()):
            check.toggled.connect(self.changed)
        self.devices.itemChanged.connect(self.changed)

    # --- devices ----------------------------------------------------------------------------------
    def set_devices(self, devices: Sequence[Any]) -> None:
        """List the probed devices (``cpu`` first); keeps the user's choices."""
        before = {self.devices.item(i).data(Qt.ItemDataRole.UserRole): self.devices.item(i).checkState()
                  for i in range(self.devices.count())}
        self.devices.blockSignals(True)
        self.devices.clear()
        seen: set[str] = set()
        ordered = sorted(devices, key=lambda d: d.id != "cpu")
        if not any(d.id == "cpu" for d in ordered):
            self._add_device("cpu", "cpu", before)
            seen.add("cpu")
        usable = usable_device_ids(devices)
        for device in ordered:
            if device.id in seen or device.id not in usable or device.id.startswith("ort:CPUExecutionProvider"):
                continue
            seen.add(device.id)
            name = f"{device.id} — {device.name}" if device.name and device.name != device.id else device.id
            self._add_device(device.id, name, before)
        self.devices.blockSignals(False)

    def _add_device(self, device_id: str, text: str, before: dict[Any, Any]) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, device_id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(before.get(device_id, Qt.CheckState.Checked))
        self.devices.addItem(item)

    def chosen_devices(self) -> tuple[str, ...] | None:
        """The checked device ids, or None when every listed device is checked (the plan takes all)."""
        items = [self.devices.item(i) for i in range(self.devices.count())]
        checked = tuple(str(i.data(Qt.ItemDataRole.UserRole)) for i in items
                        if i.checkState() == Qt.CheckState.Checked)
        return None if len(checked) == len(items) else checked

    # --- settings ---------------------------------------------------------------------------------
    def settings(self) -> CompareSettings:
        """The settings as chosen; :class:`PlanError` says what is wrong."""
        def picked(checks: dict[str, QCheckBox]) -> tuple[str, ...]:
            return tuple(name for name, check in checks.items() if check.isChecked())

        workloads = picked(self.workloads)
        endpoints = tuple(e.strip() for e in self.endpoints.text().split(",") if e.strip())
        if endpoints:
            workloads += ("endpoint",)
        if not workloads:
            raise PlanError("choose at least one workload or endpoint")
        devices = self.chosen_devices()
        if devices == ():
            raise PlanError("choose at least one device")
        threads = _numbers(self.llm_threads.text(), "CPU threads") or None
        defaults = CompareSettings()
        return CompareSettings(
            workloads=workloads, devices=devices,
            llm_model=self.llm_model.text().strip() or defaults.llm_model,
            vision_model=self.vision_model.text().strip() or defaults.vision_model,
            bayes_network=self.network.text().strip() or defaults.bayes_network,
            repeat=self.repeat.value() or None, duration_s=self.duration.value() or None,
            llm_threads=threads, quantize=picked(self.quantize), n_prompt=self.n_prompt.value(),
            n_gen=self.n_gen.value(), batch_sizes=_numbers(self.batch_sizes.text(), "batch sizes"),
            vision_backends=picked(self.backends) or None, vision_precisions=picked(self.precisions) or None,
            bayes_methods=picked(self.methods) or self._methods, bayes_samples=self.samples.value(),
            warmup=self.warmup.value(), endpoints=endpoints,
            endpoint_concurrency=_numbers(self.endpoint_concurrency.text(), "endpoint concurrency") or (1, 4),
            endpoint_prompts=self.endpoint_prompts.value(), endpoint_rates=_rates(self.endpoint_rates.text()),
            endpoint_goodput=self.endpoint_goodput.text().replace(" ", ""),
        )

    def apply(self, settings: CompareSettings) -> None:
        """Show ``settings`` in the form."""
        for name, check in self.workloads.items():
            check.setChecked(name in settings.workloads)
        self.llm_model.setText(settings.llm_model)
        self.vision_model.setText(settings.vision_model)
        self.network.setText(settings.bayes_network)
        self.llm_threads.setText(", ".join(str(t) for t in settings.llm_threads or ()))
        for name, check in self.quantize.items():
            check.setChecked(name in settings.quantize)
        self.n_prompt.setValue(settings.n_prompt)
        self.n_gen.setValue(settings.n_gen)
        self.batch_sizes.setText(", ".join(str(b) for b in settings.batch_sizes))
        for name, check in self.backends.items():
            check.setChecked(settings.vision_backends is None or name in settings.vision_backends)
        for name, check in self.precisions.items():
            check.setChecked(settings.vision_precisions is None or name in settings.vision_precisions)
        for name, check in self.methods.items():
            check.setChecked(name in settings.bayes_methods)
        self.samples.setValue(settings.bayes_samples)
        self.repeat.setValue(settings.repeat or 0)
        self.duration.setValue(settings.duration_s or 0.0)
        self.warmup.setValue(settings.warmup)
        self.endpoints.setText(", ".join(settings.endpoints))
        self.endpoint_concurrency.setText(", ".join(str(c) for c in settings.endpoint_concurrency))
        self.endpoint_prompts.setValue(settings.endpoint_prompts)
        self.endpoint_rates.setText(", ".join(f"{r:g}" for r in settings.endpoint_rates))
        self.endpoint_goodput.setText(settings.endpoint_goodput)

    def save(self, store: QSettings) -> None:
        """Remember the form (devices excepted: they differ between machines)."""
        try:
            store.setValue(SETTINGS_KEY, json.dumps({**self.settings().to_dict(), "devices": None}))
        except PlanError:
            pass  # an unfinished form is not worth remembering

    def restore(self, store: QSettings) -> None:
        """Show the form as it was last time."""
        raw = store.value(SETTINGS_KEY)
        if not isinstance(raw, str):
            return
        try:
            self.apply(CompareSettings.from_dict(json.loads(raw)))
        except (ValueError, TypeError, PlanError):
            pass  # a form saved by another version: start from the defaults
