"""What a comparison runs: its settings, and the configurations (device x backend x precision x variant).

The plan is built from the devices the probe found (``app.devices``) and each engine's own
``supported_devices``; nothing here imports an engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

WORKLOADS = ("llm", "vision", "bayes")  # compared when none are chosen ("all")
ENDPOINT = "endpoint"  # OpenAI-compatible servers under load (app/compare/endpoint_workload.py)


def declared(engine_id: str, what: str) -> tuple[str, ...]:
    """What an engine's spec declares: ``"backends"``, ``"precisions"`` or an option's choices by name.

    Empty when the engine is not installed (its workload is then refused by name, not here).
    """
    from app.discovery import get_spec

    try:
        spec = get_spec(engine_id)
        values = getattr(spec, what) if what in ("backends", "precisions") else spec.choices(what)
    except KeyError:
        return ()
    return tuple(str(v) for v in values if v != "auto")


def default_model(engine_id: str) -> str:
    """The engine's declared default model (a starter id); "" when the engine is not installed."""
    from app.discovery import get_spec

    try:
        return get_spec(engine_id).default_model
    except KeyError:
        return ""


class PlanError(ValueError):
    """The settings ask for something that cannot be planned (unknown workload, no matching device...)."""


@dataclass(frozen=True)
class CompareSettings:
    """One comparison's settings; ``None`` means "choose from the machine"."""

    workloads: tuple[str, ...] = WORKLOADS
    devices: tuple[str, ...] | None = None  # None: every device each engine supports
    llm_model: str = field(default_factory=lambda: default_model("llm"))
    vision_model: str = field(default_factory=lambda: default_model("vision"))
    bayes_network: str = field(default_factory=lambda: default_model("bayes"))
    repeat: int | None = None  # measured repetitions; None: the workload's default_repeat
    duration_s: float | None = None  # when set: measure each test for this long instead of `repeat` times
    llm_threads: tuple[int, ...] | None = None  # CPU thread counts; None: 1, 2, 4 .. physical cores
    quantize: tuple[str, ...] = ()  # derive these quantizations of the LLM locally and compare them too
    n_prompt: int = 512  # llama-bench pp512
    n_gen: int = 128  # llama-bench tg128
    ttft_tokens: int = 16  # tokens generated per TTFT request
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    vision_backends: tuple[str, ...] | None = None  # None: both where they run
    vision_precisions: tuple[str, ...] | None = None  # None: fp32 and int8, plus fp16 on accelerators
    bayes_methods: tuple[str, ...] = field(default_factory=lambda: declared("bayes", "query.method"))
    bayes_evidence: tuple[tuple[str, str], ...] | None = None  # None: five leaves at their likeliest state
    bayes_samples: int = 10_000  # per query of the sampling methods (lw, gibbs)
    warmup: int = 2  # vision and bayes warm-up runs (the LLM warms up as llama-bench does)
    endpoints: tuple[str, ...] = ()  # "URL[=MODEL]" servers measured under load (with the "endpoint" workload)
    endpoint_concurrency: tuple[int, ...] = (1, 4)  # one configuration per endpoint per cap
    endpoint_prompts: int = 8  # requests per concurrency point
    endpoint_input_len: int = 64  # prompt tokens (words without a tokenizer)
    endpoint_output_len: int = 16  # max tokens per answer
    endpoint_rates: tuple[float, ...] = ()  # also one configuration per arrival rate (req/s, Poisson, no cap)
    endpoint_goodput: str = ""  # SLOs of the goodput, "ttft:MS,tpot:MS,e2el:MS" (as bench serve --goodput)

    def __post_init__(self) -> None:
        from app.compare.endpoint_workload import parse_endpoint
        from app.compare.workload import workload_ids

        known = (*workload_ids(), ENDPOINT)
        unknown = [w for w in self.workloads if w not in known]
        if unknown or not self.workloads:
            raise PlanError(f"unknown workload {', '.join(unknown) or '(none)'}; choose from "
                            f"{', '.join(known)} or all")
        if (ENDPOINT in self.workloads) != bool(self.endpoints):
            raise PlanError("the endpoint workload needs endpoints (URL[=MODEL]), and endpoints need it")
        for spec in self.endpoints:
            parse_endpoint(spec)
        if not self.endpoint_concurrency or min(self.endpoint_concurrency) < 1 or self.endpoint_prompts < 1 \
                or self.endpoint_input_len < 1 or self.endpoint_output_len < 1:
            raise PlanError("endpoint concurrency caps, prompts and lengths must be at least 1")
        if any(not r > 0 for r in self.endpoint_rates):
            raise PlanError(f"endpoint rates must be above 0 req/s, not {list(self.endpoint_rates)}")
        self.goodput_slos()
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
        quants = declared("llm", "quantize.type")
        bad_quant = [q for q in self.quantize if q.upper() not in quants]
        if bad_quant:
            raise PlanError(f"cannot derive {', '.join(bad_quant)}; choose from {', '.join(quants)}")
        methods = declared("bayes", "query.method")
        bad_methods = [m for m in self.bayes_methods if m not in methods]
        if bad_methods:
            raise PlanError(f"unknown inference method {', '.join(bad_methods)}; choose from "
                            f"{', '.join(methods)}")
        for name, allowed in (("vision_backends", declared("vision", "backends")),
                              ("vision_precisions", declared("vision", "precisions"))):
            chosen = getattr(self, name) or ()
            wrong = [c for c in chosen if c not in allowed]
            if wrong:
                raise PlanError(f"{name}: unknown {', '.join(wrong)}; choose from {', '.join(allowed)}")
        if self.bayes_samples < 1:
            raise PlanError(f"bayes_samples must be at least 1, not {self.bayes_samples}")
        if self.warmup < 0 or self.ttft_tokens < 1:
            raise PlanError("warmup must be >= 0 and ttft_tokens >= 1")

    def goodput_slos(self) -> dict[str, float]:
        """The endpoint goodput SLOs in ms by name (PlanError when malformed)."""
        from app.loadgen.config import SLO_NAMES, ConfigError, parse_goodput

        try:
            slos = parse_goodput(self.endpoint_goodput)
        except ConfigError as exc:
            raise PlanError(str(exc)) from None
        wrong = [n for n, v in slos.items() if n not in SLO_NAMES or v < 0]
        if wrong:
            raise PlanError(f"goodput SLOs are {', '.join(SLO_NAMES)} with milliseconds >= 0, not {wrong}")
        return slos

    def repeat_for(self, workload: str) -> int:
        """Measured repetitions for a workload (the default unless the user chose)."""
        from app.compare.workload import workload as registered

        return self.repeat if self.repeat is not None else registered(workload).default_repeat

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


def build_plan(settings: CompareSettings, supported: Mapping[str, Sequence[str]], *, cores: int,
               threads: int) -> list[Config]:
    """Every configuration of the chosen workloads; ``supported`` maps engine id -> its device ids.

    Each workload plans its own configurations (:mod:`app.compare.workload`, registered by its engine).
    """
    from app.compare.workload import PlanMachine, workload

    plan: list[Config] = []
    for name in settings.workloads:
        if name == ENDPOINT:
            continue  # not this machine's devices: the runner adds them once (endpoint_configs), nodes never
        devices = select_devices(supported.get(name, ["cpu"]), settings.devices)
        if not devices:
            continue
        machine = PlanMachine(cores, threads, tuple(supported.get(name, ())))
        plan += workload(name).configs(settings, devices, machine)
    if not plan and not settings.endpoints:
        wanted = ", ".join(settings.devices or ()) or "any"
        raise PlanError(f"nothing to run: no device among ({wanted}) serves {', '.join(settings.workloads)}")
    return plan


def endpoint_configs(settings: CompareSettings) -> list[Config]:
    """One configuration per endpoint per concurrency cap (empty without the endpoint workload)."""
    from app.compare.workload import PlanMachine, workload

    if ENDPOINT not in settings.workloads:
        return []
    return workload(ENDPOINT).configs(settings, (), PlanMachine(1, 1, ()))
