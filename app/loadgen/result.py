"""The result of one benchmark point, and its ``vllm bench serve``-compatible JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.loadgen.config import BenchConfig
from app.loadgen.energy import RunEnergy
from app.loadgen.metrics import stats_ms
from app.loadgen.records import RequestOutput

PREFIX = "workbench_"  # our keys beside vLLM's
# The per-request arrays vLLM drops unless --save-detailed (it keeps latencies and queue_times).
DETAILED_KEYS = ("input_lens", "output_lens", "start_times", "ttfts", "itls", "generated_texts", "errors")


@dataclass
class BenchResult:
    """One point's requests, metrics and notes. ``metrics`` uses vLLM's key names."""

    config: BenchConfig
    date: str  # "%Y%m%d-%H%M%S", as vLLM writes it
    outputs: list[RequestOutput]
    output_lens: list[int]
    metrics: dict[str, Any]
    token_source: str  # where output token counts came from
    tokenizer_id: str | None
    arrival_start: float  # perf_counter origin of start_times
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    energy: RunEnergy | None = None
    cancelled: bool = False
    unfinished: int = 0  # requests not sent, or cut off, because the run was cancelled
    run_id: str | None = None  # set when recorded in the history

    @property
    def duration_s(self) -> float:
        """Wall time of the run."""
        return float(self.metrics["duration"])

    @property
    def status(self) -> str:
        """``ok``, ``cancelled`` or ``failed`` (no request succeeded)."""
        if self.cancelled:
            return "cancelled"
        return "ok" if self.metrics["completed"] else "failed"

    def extras(self) -> dict[str, Any]:
        """Our keys (``workbench_`` prefix): first-content TTFT, token count source, energy, client health."""
        first = [o.first_content_ttft for o in self.outputs if o.success and o.first_content_ttft is not None]
        out: dict[str, Any] = {f"{PREFIX}{k}": v for k, v in stats_ms(first, "first_content_ttft",
                                                                       self.config.percentiles).items()}
        out[f"{PREFIX}token_count_source"] = self.token_source
        out[f"{PREFIX}base_url"] = self.config.base_url
        out[f"{PREFIX}dataset"] = self.config.dataset
        out[f"{PREFIX}seed"] = self.config.seed
        out[f"{PREFIX}goodput_slos_ms"] = dict(self.config.goodput) or None
        out[f"{PREFIX}client_loop_lag_p99_ms"] = self.loop_lag_p99_ms
        out[f"{PREFIX}client_loop_lag_max_ms"] = self.loop_lag_max_ms
        out[f"{PREFIX}warnings"] = list(self.warnings)
        out[f"{PREFIX}cancelled"] = self.cancelled
        out[f"{PREFIX}requests_unfinished"] = self.unfinished
        if self.energy is not None:
            total = self.energy.total_j
            out[f"{PREFIX}energy_j"] = total
            out[f"{PREFIX}energy_by_device_j"] = self.energy.joules
            out[f"{PREFIX}energy_unavailable"] = self.energy.unavailable
            tokens = self.metrics["total_output_tokens"]
            out[f"{PREFIX}j_per_output_token"] = total / tokens if total is not None and tokens else None
        return out

    def to_vllm_json(self, detailed: bool = False) -> dict[str, Any]:
        """The file ``vllm bench serve --save-result [--save-detailed]`` would write, plus our extras.

        Setup keys first (date, endpoint_type, backend, label, model_id, tokenizer_id, num_prompts,
        request_rate ("inf" when unlimited), burstiness, max_concurrency), then the metrics; the per-request
        arrays only with ``detailed``. ``start_times`` are seconds from the run's start (vLLM writes raw
        perf_counter values, which mean nothing outside the process).
        """
        config, ok = self.config, [o for o in self.outputs if o.success]
        data: dict[str, Any] = {
            "date": self.date, "endpoint_type": config.backend, "backend": config.backend,
            "label": config.label or config.backend, "model_id": config.model, "tokenizer_id": self.tokenizer_id,
            "num_prompts": config.num_prompts,
            "request_rate": "inf" if math.isinf(config.request_rate) else config.request_rate,
            "burstiness": config.burstiness, "max_concurrency": config.max_concurrency,
        }
        m = self.metrics
        data.update({k: m[k] for k in ("duration", "completed", "failed", "total_input_tokens",
                                       "total_output_tokens", "request_throughput", "request_goodput",
                                       "output_throughput", "total_token_throughput")})
        data.update({
            "input_lens": [o.prompt_len for o in self.outputs], "output_lens": list(self.output_lens),
            "ttfts": [o.ttft for o in self.outputs], "itls": [list(o.itl) for o in self.outputs],
            "latencies": [o.latency for o in self.outputs],
            "start_times": [o.start_time - self.arrival_start for o in self.outputs],
            "queue_times": [o.queue_time for o in self.outputs],
            "generated_texts": [o.generated_text for o in self.outputs], "errors": [o.error for o in self.outputs],
            "max_output_tokens_per_s": m["max_output_tokens_per_s"],
            "max_concurrent_requests": m["max_concurrent_requests"], "rtfx": 0.0,
        })
        for name in ("ttft", "tpot", "itl", "e2el"):
            data.update({k: v for k, v in m.items() if k.endswith(f"_{name}_ms")})
        if config.max_concurrency is not None:
            data.update(stats_ms([o.queue_time for o in ok], "client_queue_time", config.percentiles))
            if not math.isinf(config.request_rate):
                data.update(stats_ms([o.latency + o.queue_time for o in ok], "e2el_including_client_queue",
                                     config.percentiles))
        if not detailed:
            for key in DETAILED_KEYS:
                data.pop(key, None)
        data.update(self.extras())
        return data

    def summary(self) -> dict[str, Any]:
        """One row for tables and CSV: the point, throughput, latency percentiles, goodput, energy."""
        m, p = self.metrics, max(self.config.percentiles)
        word = str(int(p)) if int(p) == p else str(p)
        energy = self.extras().get(f"{PREFIX}j_per_output_token")
        first = [o.first_content_ttft for o in self.outputs if o.success and o.first_content_ttft is not None]
        return {
            "point": _point(self.config), "status": self.status, "completed": m["completed"], "failed": m["failed"],
            "duration_s": m["duration"], "request_throughput": m["request_throughput"],
            "output_throughput": m["output_throughput"], "total_token_throughput": m["total_token_throughput"],
            "request_goodput": m["request_goodput"],
            "median_ttft_ms": m["median_ttft_ms"], f"p{word}_ttft_ms": m[f"p{word}_ttft_ms"],
            "median_first_content_ttft_ms": float(np.median(first)) * 1000 if first else None,
            "median_tpot_ms": m["median_tpot_ms"], f"p{word}_tpot_ms": m[f"p{word}_tpot_ms"],
            "median_itl_ms": m["median_itl_ms"], f"p{word}_itl_ms": m[f"p{word}_itl_ms"],
            "median_e2el_ms": m["median_e2el_ms"], f"p{word}_e2el_ms": m[f"p{word}_e2el_ms"],
            "max_output_tokens_per_s": m["max_output_tokens_per_s"],
            "max_concurrent_requests": m["max_concurrent_requests"],
            "j_per_output_token": energy, "token_count_source": self.token_source,
        }


def _point(config: BenchConfig) -> str:
    parts = []
    if config.max_concurrency is not None:
        parts.append(f"c={config.max_concurrency}")
    if not math.isinf(config.request_rate):
        parts.append(f"rate={config.request_rate:g}")
    return " ".join(parts) or "unlimited"
