"""What a serving benchmark is asked to do: the endpoint, the dataset, the traffic and the SLOs."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Endpoint = Literal["chat", "completions"]
DatasetName = Literal["random", "sharegpt", "text"]
SLO_NAMES = ("ttft", "tpot", "e2el")


class ConfigError(ValueError):
    """The benchmark settings cannot work; the message says which and why."""


@dataclass(frozen=True)
class SweepPoint:
    """One traffic setting of a sweep: a concurrency cap, an arrival rate, or both."""

    max_concurrency: int | None = None
    request_rate: float = math.inf

    @property
    def label(self) -> str:
        """``concurrency 4``, ``rate 2 req/s`` or both."""
        parts = []
        if self.max_concurrency is not None:
            parts.append(f"concurrency {self.max_concurrency}")
        if not math.isinf(self.request_rate):
            parts.append(f"rate {self.request_rate:g} req/s")
        return ", ".join(parts) or "all at once"


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark point (a sweep varies ``max_concurrency`` / ``request_rate``)."""

    base_url: str
    model: str
    api_key: str | None = None
    endpoint: Endpoint = "completions"
    dataset: DatasetName = "random"
    dataset_path: str | None = None
    input_len: int = 128
    output_len: int | None = 64  # None: a ShareGPT entry's own completion length
    num_prompts: int = 32
    request_rate: float = math.inf
    burstiness: float = 1.0
    max_concurrency: int | None = None
    goodput: Mapping[str, float] = field(default_factory=dict)  # SLO name -> milliseconds
    percentiles: tuple[float, ...] = (99.0,)
    seed: int = 0
    ignore_eos: bool | None = None  # None: on for the random dataset (as vLLM), off otherwise
    temperature: float | None = None
    tokenizer: str | None = None  # None/"auto", "server", "none", a .gguf, a tokenizer.json, a model id
    label: str | None = None
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 600.0  # longest silence allowed between two bytes of a response
    measure_energy: bool = True

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ConfigError("; ".join(problems))

    def at(self, point: SweepPoint) -> BenchConfig:
        """This config at one sweep point."""
        return dataclasses.replace(self, max_concurrency=point.max_concurrency, request_rate=point.request_rate)

    @property
    def backend(self) -> str:
        """vLLM's backend name for the endpoint (``openai`` or ``openai-chat``)."""
        return "openai-chat" if self.endpoint == "chat" else "openai"

    @property
    def root_url(self) -> str:
        """The server root (``/v1`` removed): where ``/tokenize`` lives."""
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def api_url(self) -> str:
        """The streaming endpoint."""
        return self.root_url + ("/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions")

    @property
    def is_local(self) -> bool:
        """True when the endpoint runs on this machine (energy can then be read)."""
        host = urlsplit(self.root_url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    @property
    def effective_ignore_eos(self) -> bool:
        """Whether to ask the server to run to ``max_tokens``."""
        return self.dataset == "random" if self.ignore_eos is None else self.ignore_eos


def validate(config: BenchConfig) -> list[str]:
    """Every reason the settings cannot work (empty when they can)."""
    problems = []
    scheme = urlsplit(config.base_url).scheme
    if scheme not in ("http", "https"):
        problems.append(f"--base-url must start with http:// or https://, not {config.base_url!r}")
    if not config.model:
        problems.append("a model name is needed (--model)")
    if config.num_prompts < 1:
        problems.append("--num-prompts must be at least 1")
    if config.input_len < 1 or (config.output_len is not None and config.output_len < 1):
        problems.append("--input-len and --output-len must be at least 1")
    if not config.request_rate > 0:
        problems.append("--request-rate must be > 0 (inf = all at once)")
    if not config.burstiness > 0:
        problems.append("--burstiness must be > 0 (1 = Poisson arrivals)")
    if config.max_concurrency is not None and config.max_concurrency < 1:
        problems.append("--max-concurrency must be at least 1")
    if config.dataset == "sharegpt" and not config.dataset_path:
        problems.append("the sharegpt dataset needs a JSON file")
    if config.dataset == "sharegpt" and config.output_len is None and config.tokenizer == "none":
        problems.append("ShareGPT output lengths need a tokenizer or --output-len")
    for name, value in config.goodput.items():
        if name not in SLO_NAMES:
            problems.append(f"goodput SLO {name!r} is not one of {', '.join(SLO_NAMES)}")
        elif value < 0:
            problems.append(f"goodput SLO {name} must be >= 0 ms")
    if any(not 0 < p < 100 for p in config.percentiles):
        problems.append("percentiles must lie strictly between 0 and 100")
    return problems


def parse_goodput(pairs: Sequence[str] | str) -> dict[str, float]:
    """``ttft:200,tpot:50`` (or a list of ``name:ms``) -> {"ttft": 200.0, "tpot": 50.0}."""
    items = pairs.split(",") if isinstance(pairs, str) else [p for text in pairs for p in text.split(",")]
    out: dict[str, float] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, sep, value = item.partition(":")
        try:
            if not sep:
                raise ValueError(item)
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"goodput SLOs are NAME:MILLISECONDS pairs (ttft, tpot, e2el), not {item!r}") from None
    return out
