"""What a comparison runs: its settings, and the configurations (device x backend x precision x variant).

The plan is built from the devices the probe found (``app.devices``) and each engine's own
``supported_devices``; nothing here imports an engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

WORKLOADS = ("llm", "vision", "bayes")
DEFAULT_REPEAT = {"llm": 3, "vision": 20, "bayes": 10}
LLM_QUANT_CHOICES = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0", "Q4_1", "F16")
BAYES_METHODS = ("jt", "ve", "lw", "gibbs")
VISION_PRECISIONS = ("fp32", "fp16", "int8")
VISION_BACKENDS = ("torch", "onnxruntime")


class PlanError(ValueError):
    """The settings ask for something that cannot be planned (unknown workload, no matching device...)."""


@dataclass(frozen=True)
class CompareSettings:
    """One comparison's settings; ``None`` means "choose from the machine"."""

    workloads: tuple[str, ...] = WORKLOADS
    devices: tuple[str, ...] | None = None  # None: every device each engine supports
    llm_model: str = "smollm2-135m-instruct"
    vision_model: str = "efficientnet-lite0"
    bayes_network: str = "alarm"
    repeat: int | None = None  # measured repetitions; None: DEFAULT_REPEAT per workload
    duration_s: float | None = None  # when set: measure each test for this long instead of `repeat` times
    llm_threads: tuple[int, ...] | None = None  # CPU thread counts; None: 1, 2, 4 .. physical cores
    quantize: tuple[str, ...] = ()  # derive these quantizations of the LLM locally and compare them too
    n_prompt: int = 512  # llama-bench pp512
    n_gen: int = 128  # llama-bench tg128
    ttft_tokens: int = 16  # tokens generated per TTFT request
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    vision_backends: tuple[str, ...] | None = None  # None: both where they run
    vision_precisions: tuple[str, ...] | None = None  # None: fp32 and int8, plus fp16 on accelerators
    bayes_methods: tuple[str, ...] = BAYES_METHODS
    bayes_evidence: tuple[tuple[str, str], ...] | None = None  # None: five leaves at their likeliest state
    bayes_samples: int = 10_000  # per query of the sampling methods (lw, gibbs)
    warmup: int = 2  # vision and bayes warm-up runs (the LLM warms up as llama-bench does)

    def __post_init__(self) -> None:
        unknown = [w for w in self.workloads if w not in WORKLOADS]
        if unknown or not self.workloads:
            raise PlanError(f"unknown workload {', '.join(unknown) or '(none)'}; choose from "
                            f"{', '.join(WORKLOADS)} or all")
        if self.repeat is not None and self.repeat < 1:
            raise PlanError(f"repeat must be at least 1, not {self.repeat}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise PlanError(f"duration must be above 0 seconds, not {self.duration_s}")
        if self.n_prompt < 0 or self.n_gen < 0 or not (self.n_prompt or self.n_gen):
            raise PlanError("n_prompt and n_gen must be >= 0 and not both 0")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise PlanError(f"batch sizes must be whole numbers >= 1, not {list(self.batch_sizes)}")
        if self.llm_threads is not None and (not self.llm_threads or min(self.llm_threads) < 1):
            raise PlanError(f"thread counts must be >= 1, not {list(self.llm_threads)}")
        bad_quant = [q for q in self.quantize if q.upper() not in LLM_QUANT_CHOICES]
        if bad_quant:
            raise PlanError(f"cannot derive {', '.join(bad_quant)}; choose from {', '.join(LLM_QUANT_CHOICES)}")
        bad_methods = [m for m in self.bayes_methods if m not in BAYES_METHODS]
        if bad_methods:
            raise PlanError(f"unknown inference method {', '.join(bad_methods)}; choose from "
                            f"{', '.join(BAYES_METHODS)}")
        for name, allowed in (("vision_backends", VISION_BACKENDS), ("vision_precisions", VISION_PRECISIONS)):
            chosen = getattr(self, name) or ()
            wrong = [c for c in chosen if c not in allowed]
            if wrong:
                raise PlanError(f"{name}: unknown {', '.join(wrong)}; choose from {', '.join(allowed)}")
        if self.bayes_samples < 1:
            raise PlanError(f"bayes_samples must be at least 1, not {self.bayes_samples}")
        if self.warmup < 0 or self.ttft_tokens < 1:
            raise PlanError("warmup must be >= 0 and ttft_tokens >= 1")

    def repeat_for(self, workload: str) -> int:
        """Measured repetitions for a workload (the default unless the user chose)."""
        return self.repeat if self.repeat is not None else DEFAULT_REPEAT[workload]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, stored with the session."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompareSettings:
        """Rebuild from :meth:`to_dict` output (unknown keys ignored, so older exports still load)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key == "bayes_evidence" and value is not None:
                value = tuple(tuple(pair) for pair in value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)


@dataclass(frozen=True)
class Config:
    """One configuration to measure, in its own worker process."""

    workload: str
    engine: str
    device: str
    backend: str
    precision: str  # LLM: the quantization ("" = the file's own); vision: fp32/fp16/int8; bayes: float64
    variant: str = ""  # LLM: "1 thread"; bayes: the method
    threads: int = 1
    model: str = ""
    derive: str = ""  # LLM: derive this quantization from `model` before loading
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short unique name, e.g. ``vision cpu onnxruntime int8`` or ``llm cpu Q8_0 2 threads``."""
        parts = [self.workload, self.device, self.backend, self.precision, self.variant]
        return " ".join(p for p in parts if p)


def thread_counts(cores: int) -> list[int]:
    """1, 2, 4, ... up to ``cores``, and ``cores`` itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    counts.append(max(1, cores))
    return counts


def _threads_label(n: int) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def select_devices(supported: Iterable[str], wanted: Sequence[str] | None) -> list[str]:
    """The supported device ids the user asked for (all when ``wanted`` is None), CPU first, no duplicates.

    ONNX Runtime's CPU provider device is the plain ``cpu`` again, so it is left out when ``cpu`` is in.
    """
    ids = list(dict.fromkeys(supported))
    if wanted is not None:
        ids = [d for d in ids if d in wanted]
    if "cpu" in ids:
        ids = [d for d in ids if not d.startswith("ort:CPUExecutionProvider")]
    return sorted(ids, key=lambda d: d != "cpu")


def llm_configs(settings: CompareSettings, devices: Sequence[str], cores: int) -> list[Config]:
    """Threads 1..N on the CPU, full offload on each GPU, for the model and each derived quantization."""
    quants = [""] + [q.upper() for q in settings.quantize]
    out = []
    for quant in dict.fromkeys(quants):
        for device in devices:
            if device == "cpu":
                for threads in settings.llm_threads or thread_counts(cores):
                    out.append(Config("llm", "llm", "cpu", "llama.cpp", quant, _threads_label(threads), threads,
                                      settings.llm_model, derive=quant))
            else:
                out.append(Config("llm", "llm", device, "llama.cpp", quant, "all layers on GPU", 1,
                                  settings.llm_model, derive=quant, options={"gpu_layers": "all"}))
    return out


def _accelerator(device: str) -> bool:
    return device.startswith(("cuda:", "dml:", "mps")) or (
        device.startswith("ort:") and not device.startswith("ort:CPUExecutionProvider"))


# The ONNX Runtime provider that serves a torch-style device id (as engines.vision.ort_backend maps it).
_ORT_PROVIDER_FOR = {"cuda": "CUDAExecutionProvider", "dml": "DmlExecutionProvider", "mps": "CoreMLExecutionProvider"}


def _ort_twin(device: str) -> str | None:
    """``ort:<Provider>:N`` for ``cuda:N``/``dml:N``/``mps``: the same hardware through ONNX Runtime."""
    prefix, _, index = device.partition(":")
    provider = _ORT_PROVIDER_FOR.get(prefix)
    return f"ort:{provider}:{index or 0}" if provider else None


def vision_configs(settings: CompareSettings, devices: Sequence[str], threads: int,
                   available: Sequence[str] = ()) -> list[Config]:
    """torch eager and ONNX Runtime, fp32/int8 (and fp16 on accelerators), on each device.

    ONNX Runtime runs on ``cuda:0`` (say) only where its provider for it was found (``available``
    lists ``ort:CUDAExecutionProvider:0``), and then that ``ort:`` id is not planned again.
    """
    twins = {d: _ort_twin(d) for d in devices}
    served = {twin for twin in twins.values() if twin in available}
    out = []
    for device in devices:
        if device in served:
            continue  # measured as "<its GPU id> onnxruntime"
        if device.startswith("ort:"):
            backends = ["onnxruntime"]
        elif device == "cpu" or twins[device] in served:
            backends = list(VISION_BACKENDS)
        else:
            backends = ["torch"]  # this ONNX Runtime has no provider for the device
        for backend in backends:
            if settings.vision_backends and backend not in settings.vision_backends:
                continue
            precisions = ["fp32", "fp16", "int8"] if _accelerator(device) else ["fp32", "int8"]
            if backend == "torch":
                precisions = [p for p in precisions if p != "int8"]  # int8 runs through ONNX Runtime only
            for precision in precisions:
                if settings.vision_precisions and precision not in settings.vision_precisions:
                    continue
                out.append(Config("vision", "vision", device, backend, precision, "", threads,
                                  settings.vision_model))
    return out


def bayes_configs(settings: CompareSettings, devices: Sequence[str], threads: int) -> list[Config]:
    """Each inference method on the CPU (numpy); the junction tree on GPUs (torch).

    The engine runs elimination and sampling on the CPU whatever the device, so only ``jt`` is planned
    for a GPU: anything else would measure the CPU twice.
    """
    out = []
    for device in devices:
        backend = "numpy" if device == "cpu" else "torch"
        for method in settings.bayes_methods:
            if device != "cpu" and method != "jt":
                continue
            out.append(Config("bayes", "bayes", device, backend, "float64", method, threads,
                              settings.bayes_network))
    return out


def build_plan(settings: CompareSettings, supported: Mapping[str, Sequence[str]], *, cores: int,
               threads: int) -> list[Config]:
    """Every configuration of the chosen workloads; ``supported`` maps engine id -> its device ids."""
    plan: list[Config] = []
    for workload in settings.workloads:
        devices = select_devices(supported.get(workload, ["cpu"]), settings.devices)
        if not devices:
            continue
        if workload == "llm":
            plan += llm_configs(settings, devices, cores)
        elif workload == "vision":
            plan += vision_configs(settings, devices, threads, supported.get(workload, ()))
        else:
            plan += bayes_configs(settings, devices, threads)
    if not plan:
        wanted = ", ".join(settings.devices or ()) or "any"
        raise PlanError(f"nothing to run: no device among ({wanted}) serves {', '.join(settings.workloads)}")
    return plan
