"""Endpoints as devices: an OpenAI-compatible server measured under load by the serving benchmark.

Each ``URL[=MODEL]`` in :attr:`CompareSettings.endpoints` becomes one configuration per concurrency cap
(a small fixed sweep, 1 and 4 by default), measured with :func:`app.loadgen.runner.run_sweep` and recorded
as a ``serve-bench`` run with the session's id. The row carries vLLM's figures under short names: output
tokens/s (system throughput), per-user tokens/s (1000 / mean TPOT), TTFT and TPOT p50/p99, requests/s.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.compare.measure import MeasureCancelled, MeasureContext, StepFailed
from app.compare.plan import CompareSettings, Config, PlanError
from app.compare.results import INFO, ResultRow
from app.compare.workload import PlanMachine, Workload

ENGINE = "serve-bench"  # the history engine of serving-benchmark runs (app/loadgen/record.py)
API_KEY_VARIABLES = ("WORKBENCH_ENDPOINT_API_KEY", "OPENAI_API_KEY")  # never stored with the session
# vLLM result key -> the row's metric name.
METRICS = {
    "output_throughput": "output_tokens_per_s", "request_throughput": "requests_per_s",
    "median_ttft_ms": "ttft_p50_ms", "p99_ttft_ms": "ttft_p99_ms", "median_tpot_ms": "tpot_p50_ms",
    "p99_tpot_ms": "tpot_p99_ms", "median_itl_ms": "itl_p50_ms", "median_e2el_ms": "e2el_p50_ms",
    "p99_e2el_ms": "e2el_p99_ms", "completed": "completed", "failed": "failed",
    "max_concurrent_requests": "max_concurrent_requests", "request_goodput": "request_goodput",
}


def parse_endpoint(spec: str) -> tuple[str, str]:
    """``http://host:port[/v1][=MODEL]`` (or ``endpoint:http://…``) -> (root URL, model or "")."""
    text = spec.strip().removeprefix("endpoint:")
    url, _, model = text.partition("=")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlanError(f"an endpoint is http(s)://HOST:PORT[=MODEL], not {spec!r}")
    root = url.strip().rstrip("/")
    return (root[: -len("/v1")] if root.endswith("/v1") else root), model.strip()


def device_id(root_url: str) -> str:
    """How an endpoint shows as a device (the same id its history runs carry)."""
    return f"endpoint:{root_url}"


def _configs(settings: CompareSettings, _devices: Sequence[str], _machine: PlanMachine) -> list[Config]:
    plan = []
    for spec in settings.endpoints:
        root, model = parse_endpoint(spec)
        for concurrency in settings.endpoint_concurrency:
            plan.append(Config("endpoint", ENGINE, device_id(root), model, "", f"concurrency {concurrency}",
                               model=model, options={"base_url": root, "max_concurrency": concurrency}))
        for rate in settings.endpoint_rates:
            plan.append(Config("endpoint", ENGINE, device_id(root), model, "", f"rate {rate:g} req/s",
                               model=model, options={"base_url": root, "request_rate": rate}))
    return plan


def _api_key() -> str | None:
    return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


def served_model(root_url: str, api_key: str | None) -> str:
    """The first model the endpoint lists at ``/v1/models`` (for an endpoint given without one)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        reply = httpx.get(root_url + "/v1/models", headers=headers, timeout=10.0, trust_env=False)
        reply.raise_for_status()
        models = [str(m["id"]) for m in reply.json().get("data") or [] if m.get("id")]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # httpx appends a help link on line 2
        raise StepFailed(f"cannot ask {root_url}/v1/models which model it serves ({reason}); give URL=MODEL",
                         "not_found") from None
    if not models:
        raise StepFailed(f"{root_url}/v1/models lists no model; give URL=MODEL", "not_found")
    return models[0]


def _measure(ctx: MeasureContext, shared: dict[str, Any]) -> ResultRow:
    from app.loadgen.config import BenchConfig, ConfigError, SweepPoint
    from app.loadgen.runner import BenchProgress, run_sweep

    config, settings = ctx.config, ctx.settings
    root = str(config.options["base_url"])
    concurrency = config.options.get("max_concurrency")
    rate = float(config.options.get("request_rate", math.inf))
    api_key = _api_key()
    ctx.check()
    # One /v1/models question per endpoint per session, not per concurrency point.
    model = config.model or shared.get(root) or shared.setdefault(root, served_model(root, api_key))
    try:
        bench = BenchConfig(base_url=root, model=model, api_key=api_key, endpoint="completions", dataset="text",
                            input_len=settings.endpoint_input_len, output_len=settings.endpoint_output_len,
                            num_prompts=settings.endpoint_prompts, seed=0, percentiles=(99.0,),
                            goodput=settings.goodput_slos(), label=config.label)
    except ConfigError as exc:
        raise StepFailed(str(exc), "bad_settings") from None

    def on_progress(p: BenchProgress) -> None:
        ctx.progress(p.done / max(1, p.total), f"{p.done}/{p.total} requests, {p.failed} failed")

    cancel: threading.Event = ctx.cancel_event
    try:
        results = run_sweep(bench, [SweepPoint(concurrency, rate)], on_progress, cancel, history=ctx.history,
                            compare_id=ctx.session_id)
    except (httpx.HTTPError, OSError, ValueError) as exc:  # the tokenizer or dataset could not be set up
        raise StepFailed(f"{root}: {type(exc).__name__}: {exc}", "failed") from None
    if not results or results[0].cancelled or ctx.cancelled:
        if results and results[0].run_id:
            ctx.run_ids.append(results[0].run_id)
        raise MeasureCancelled()
    result = results[0]
    if result.run_id:
        ctx.run_ids.append(result.run_id)
    if not result.metrics["completed"]:
        raise StepFailed("every request failed: " + "; ".join(result.warnings[-1:]), "failed")
    row = ResultRow("endpoint", config.device, model, "", config.variant, run_id=result.run_id)
    row.metrics = {name: float(result.metrics[key]) for key, name in METRICS.items()
                   if isinstance(result.metrics.get(key), int | float)}
    if concurrency is not None:
        row.metrics["max_concurrency"] = float(concurrency)
    if not math.isinf(rate):
        row.metrics["request_rate"] = rate
    if not settings.goodput_slos():
        row.metrics.pop("request_goodput", None)  # without SLOs vLLM's goodput is not a measurement
    row.metrics["num_prompts"] = float(settings.endpoint_prompts)
    if result.metrics.get("mean_tpot_ms"):
        row.metrics["user_tokens_per_s"] = 1000.0 / float(result.metrics["mean_tpot_ms"])
    row.samples = {"ttft_ms": [o.ttft * 1000 for o in result.outputs if o.success],
                   "e2el_ms": [o.latency * 1000 for o in result.outputs if o.success]}
    if result.metrics["failed"]:
        first = next((o.error for o in result.outputs if o.error), "")
        row.flag("partial", f"{result.metrics['failed']} of {settings.endpoint_prompts} requests failed: {first}")
    if result.warnings:
        row.flag("client_limit", "; ".join(result.warnings))
    row.flag("tokens", f"output tokens counted by {result.token_source}", INFO)
    return row


WORKLOAD = Workload(engine="endpoint", default_repeat=1, configs=_configs, measure=_measure)
