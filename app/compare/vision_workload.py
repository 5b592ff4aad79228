"""The vision workload: latency (mean, median, p90, p99) and images/s per batch size, and top-1 agreement.

* cold: worker start + load, which includes ONNX export / int8 calibration on first use (``cold_start_s``),
  and the model's first inference (``cold_first_ms``);
* warm: the engine's ``benchmark`` op per batch size (synthetic input; warm-up, then R timed runs or
  enough runs to fill the duration), one request per batch size so its energy is measured on its own;
* agreement: the ``agreement`` op on the sample photos against the fp32 CPU reference; any difference in
  the top-1 answer is flagged, and so is an ONNX Runtime session that fell back to the CPU provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.compare.measure import MeasureContext
from app.compare.plan import CompareSettings, Config, declared
from app.compare.results import ResultRow
from app.compare.workload import PlanMachine, Workload

STATS = ("mean", "median", "p90", "p99", "min", "max", "std")


def _accelerator(device: str) -> bool:
    return device.startswith(("cuda:", "dml:", "mps")) or (
        device.startswith("ort:") and not device.startswith("ort:CPUExecutionProvider"))


def _ort_twin(device: str) -> str | None:
    """``ort:<Provider>:N`` for ``cuda:N``/``dml:N``/``mps``: the same hardware through ONNX Runtime."""
    from app.discovery import get_spec

    provider = get_spec("vision").provider_for(device)
    index = device.partition(":")[2]
    return f"ort:{provider}:{index or 0}" if provider else None


def configs(settings: CompareSettings, devices: Sequence[str], machine: PlanMachine) -> list[Config]:
    """torch eager and ONNX Runtime, fp32/int8 (and fp16 on accelerators), on each device.

    ONNX Runtime runs on ``cuda:0`` (say) only where its provider for it was found (``machine.supported``
    lists ``ort:CUDAExecutionProvider:0``), and then that ``ort:`` id is not planned again.
    """
    twins = {d: _ort_twin(d) for d in devices}
    served = {twin for twin in twins.values() if twin in machine.supported}
    out = []
    for device in devices:
        if device in served:
            continue  # measured as "<its GPU id> onnxruntime"
        if device.startswith("ort:"):
            backends = ["onnxruntime"]
        elif device == "cpu" or twins[device] in served:
            backends = list(declared("vision", "backends"))
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
                out.append(Config("vision", "vision", device, backend, precision, "", machine.threads,
                                  settings.vision_model))
    return out


def _run_batch(ctx: MeasureContext, client: Any, batch: int) -> dict[str, Any]:
    warmup = ctx.settings.warmup
    if ctx.duration_s is None:
        iterations = ctx.repeat
    else:
        probe = ctx.record(client, "benchmark", {"batch_sizes": [batch], "iterations": 1, "warmup": warmup})
        per_run_s = float(probe["rows"][0]["latency_median_ms"]) / 1000
        iterations = max(2, ctx.reps_for_duration(per_run_s))
        warmup = 0  # the probe warmed this batch size up already
    with ctx.energy.measure() as box:
        result = ctx.record(client, "benchmark", {"batch_sizes": [batch], "iterations": iterations,
                                                  "warmup": warmup})
    row = dict(result["rows"][0])
    points: list[list[float]] = next(iter((result.get("series") or {}).values()), [])
    row["latencies"] = [float(v) for _t, v in points]
    for t, value in points:
        ctx.live(f"latency ms (batch {batch})", float(value), float(t))
    if box.energy is not None:
        # The first (cold) run of this batch size always happens, warm-up or not.
        images = batch * (iterations + max(1, warmup))
        row["joules_per_image"] = box.energy.joules / images
        row["watts"] = box.energy.watts
    return row


def measure(ctx: MeasureContext, _shared: dict[str, Any] | None = None) -> ResultRow:
    """Measure one vision configuration in its own worker."""
    config, settings = ctx.config, ctx.settings
    row = ResultRow("vision", config.device, config.backend, config.precision, config.variant)
    client = ctx.start_worker()
    with client:
        ctx.progress(0.02, "starting the worker and loading (first use exports / quantizes the model)")
        info, cold_s = ctx.load(client, config.model, config.device,
                                {"backend": config.backend, "precision": config.precision,
                                 "threads": config.threads, "batch": max(settings.batch_sizes)})
        row.metrics.update(cold_start_s=cold_s, load_s=float(info.get("load_s") or 0.0),
                           cold_first_ms=float(info.get("cold_first_run_ms") or 0.0),
                           threads=float(info.get("threads") or config.threads))
        _flag_fallback(row, info.get("backend_details") or {})
        sizes = sorted(set(settings.batch_sizes))
        for n, batch in enumerate(sizes):
            ctx.progress(0.2 + 0.6 * n / len(sizes), f"batch {batch}")
            measured = _run_batch(ctx, client, batch)
            if n == 0:
                row.run_id = ctx.run_ids[-1]
            _flag_fallback(row, measured.get("details") or {})
            for stat in STATS:
                row.metrics[f"b{batch}_latency_{stat}_ms"] = float(measured[f"latency_{stat}_ms"])
            row.metrics[f"b{batch}_images_per_s"] = float(measured["images_per_s"])
            row.metrics[f"b{batch}_cold_ms"] = float(measured["cold_ms"])
            for key in ("joules_per_image", "watts"):
                if key in measured:
                    row.metrics[f"b{batch}_{key}"] = float(measured[key])
            row.samples[f"latency_ms_b{batch}"] = measured["latencies"]
        first = sizes[0]
        for stat in STATS:
            row.metrics[f"latency_{stat}_ms"] = row.metrics[f"b{first}_latency_{stat}_ms"]
        best = max(sizes, key=lambda b: row.metrics[f"b{b}_images_per_s"])
        row.metrics["images_per_s"] = row.metrics[f"b{best}_images_per_s"]
        row.metrics["best_batch"] = float(best)
        if f"b{best}_joules_per_image" in row.metrics:
            row.metrics["joules_per_image"] = row.metrics[f"b{best}_joules_per_image"]
        ctx.progress(0.85, "top-1 agreement with the fp32 CPU reference")
        _agreement(ctx, client, row)
    ctx.progress(1.0, "done")
    return row


def _flag_fallback(row: ResultRow, details: dict[str, Any]) -> None:
    fallback = details.get("fallback")
    if fallback:
        row.flag("cpu_fallback", f"silent CPU fallback: {fallback}")


def _agreement(ctx: MeasureContext, client: Any, row: ResultRow) -> None:
    config = ctx.config
    result = ctx.record(client, "agreement", {"combos": [[config.backend, config.precision]]})
    found = result["rows"][0]
    if "error" in found:
        row.flag("agreement_error", f"agreement could not be measured: {found['error']}")
        return
    images = int(result.get("images") or 0)
    for key in ("top1_agreement", "top5_equal", "max_prob_diff", "mean_prob_diff"):
        row.metrics[key] = float(found[key])
    row.metrics["agreement_images"] = float(images)
    if found.get("note"):
        row.flag("cpu_fallback", f"silent CPU fallback: {found['note']}")
    if found["top1_agreement"] < 1.0:
        differ = round((1.0 - found["top1_agreement"]) * images)
        row.flag("disagrees", f"top-1 differs from the {result.get('reference', 'fp32 CPU')} reference on "
                              f"{differ} of {images} sample images")


WORKLOAD = Workload("vision", default_repeat=20, configs=configs, measure=measure)
