"""The one protocol every engine plugin implements.

An engine plugin is two things:

* a light :class:`EngineSpec`, exposed through the ``workbench.engines`` entry-point group. Importing it
  must not import torch, llama_cpp, onnxruntime or any other heavy library: discovery runs in the GUI
  process at start-up.
* an :class:`Engine` class, named by ``EngineSpec.engine_class`` as ``"package.module:Class"``. It is
  imported and instantiated inside a worker process only.

A worker hosts one engine instance with one loaded model. The host calls :meth:`Engine.load` once, then
:meth:`Engine.run` for each request. ``run`` reports through the :class:`RunContext` it is given
(partial output, progress, time-series samples) and returns the final result as a plain mapping. It must
call :meth:`RunContext.check_cancelled` between units of work (tokens, batches, samples) so a cancel
arrives promptly. Errors a user can act on are raised as :class:`EngineError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from core.errors import EngineError, ErrorKind


class EngineKind(StrEnum):
    """The model family an engine serves."""

    LLM = "llm"
    VISION = "vision"
    BAYES = "bayes"
    OTHER = "other"


class RunCancelled(Exception):
    """Raised by :meth:`RunContext.check_cancelled` once a cancel has arrived.

    An engine may re-raise it as ``RunCancelled(summary)`` with a mapping of what it finished (metrics
    included); the caller receives that as the ``Cancelled`` event's data.
    """


@dataclass(frozen=True, slots=True)
class Device:
    """One device this machine offers, with the stable id used everywhere (``cpu``, ``cuda:0``, ...)."""

    id: str
    kind: str  # "cpu" | "gpu" | "npu"
    backend: str  # "cpu" | "torch" | "onnxruntime" | "llama.cpp"
    name: str
    vendor: str = ""
    memory_bytes: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class RunContext(Protocol):
    """What an engine uses to report while it works; given to :meth:`Engine.load` and :meth:`Engine.run`."""

    @property
    def request_id(self) -> str: ...

    def cancel_requested(self) -> bool:
        """True once the caller asked to stop."""
        ...

    def check_cancelled(self) -> None:
        """Raise :class:`RunCancelled` if the caller asked to stop."""
        ...

    def partial(self, data: Mapping[str, Any]) -> None:
        """Send a piece of output (a token, one classified image, one posterior)."""
        ...

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Send progress; the host throttles it."""
        ...

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        """Record one time-series point (``t`` from ``time.perf_counter()``, taken where the work happens)."""
        ...


class DirectContext:
    """A RunContext for calling an engine without a worker (scripts, benchmarks); ``keep`` records reports."""

    def __init__(self, request_id: str = "direct", keep: bool = False) -> None:
        self._request_id = request_id
        self._keep = keep
        self.cancel_event = threading.Event()
        self.partials: list[Mapping[str, Any]] = []
        self.progress_log: list[tuple[float, float | None, str]] = []
        self.samples: list[tuple[str, float, float | None]] = []

    @property
    def request_id(self) -> str:
        """The id given at construction."""
        return self._request_id

    def cancel_requested(self) -> bool:
        """True once ``cancel_event`` is set."""
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise RunCancelled once ``cancel_event`` is set."""
        if self.cancel_event.is_set():
            raise RunCancelled()

    def partial(self, data: Mapping[str, Any]) -> None:
        """Keep (or drop) a piece of output."""
        if self._keep:
            self.partials.append(data)

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Keep (or drop) a progress report."""
        if self._keep:
            self.progress_log.append((done, total, message))

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        """Keep (or drop) a time-series point."""
        if self._keep:
            self.samples.append((series, value, t))


@runtime_checkable
class Engine(Protocol):
    """An engine instance living in a worker process (or in-process for tests)."""

    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Load ``model`` on ``device``; return facts about it (shown to the user, stored with runs)."""
        ...

    def run(self, op: str, params: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Run one request; return its result. ``result["metrics"]`` (name -> float) goes to the history."""
        ...

    def unload(self) -> None:
        """Free the model; called before the worker exits."""
        ...


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option an engine declares: its kind, default and (for a choice) the values it accepts.

    ``kind`` is ``"choice"``, ``"int"``, ``"float"``, ``"bool"`` or ``"text"``; a default of ``None`` means
    "the engine chooses" (shown as *auto*).
    """

    name: str
    kind: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What discovery learns about an engine without importing it.

    Besides the entry points, a spec declares what the app and the UI would otherwise hard-code: the load
    options (with their choices and defaults), options of its ops (named ``"op.param"``), the default and
    starter model ids, backends and precisions, the ONNX Runtime provider for each device prefix, and the
    comparison workload the app runs for it.
    """

    id: str
    kind: EngineKind
    title: str
    engine_class: str  # "package.module:Class", imported in the worker only
    file_types: tuple[str, ...] = ()  # lower-case suffixes such as ".gguf"
    ops: tuple[str, ...] = ()  # the operations run() accepts, for listings
    # Picks, from the devices the machine offers, the ids this engine can use. Must be cheap.
    supported_devices: Callable[[Sequence[Device]], list[str]] = field(
        default=lambda devices: ["cpu"]
    )
    description: str = ""
    load_options: tuple[OptionSpec, ...] = ()
    op_options: tuple[OptionSpec, ...] = ()  # named "op.param", e.g. "query.method"
    default_model: str = ""  # used when the user names none (a starter model id)
    starter_models: tuple[str, ...] = ()  # ids that work without a download (app.starter_models locates files)
    backends: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    device_providers: tuple[tuple[str, str], ...] = ()  # device-id prefix -> ONNX Runtime execution provider
    # "package.module:NAME" of the comparison workload the app runs for this engine ("" = none); a string,
    # so the spec stays light and engines never import app.
    compare_workload: str = ""
    # The load option saying how many requests a loaded model serves at once ("" = one at a time); the
    # model service gives a slot that many runners and the worker runs the engine's concurrent_ops on threads.
    parallel_option: str = ""
    # Environment its workers get on top of the defaults (core.thread_env); an empty value removes the
    # variable, e.g. the LLM engine leaves OpenMP's wait policy to libgomp, as llama.cpp's own tools do.
    worker_env: tuple[tuple[str, str], ...] = ()

    def opens(self, path: str) -> bool:
        """True when this engine opens files named like ``path``."""
        lower = path.lower()
        return any(lower.endswith(suffix) for suffix in self.file_types)

    def option(self, name: str) -> OptionSpec:
        """The declared load option (or ``"op.param"`` op option) ``name``; KeyError when undeclared."""
        for spec in (*self.load_options, *self.op_options):
            if spec.name == name:
                return spec
        raise KeyError(f"engine {self.id!r} declares no option {name!r}")

    def choices(self, name: str) -> tuple[Any, ...]:
        """The values option ``name`` accepts (empty for a free value)."""
        return self.option(name).choices

    def provider_for(self, device: str) -> str | None:
        """The ONNX Runtime execution provider serving a torch-style device id (``cuda:0``), if declared."""
        prefix = device.partition(":")[0]
        return dict(self.device_providers).get(prefix)


__all__ = ["Device", "DirectContext", "Engine", "EngineError", "EngineKind", "EngineSpec", "ErrorKind", "OptionSpec",
           "RunCancelled", "RunContext"]
