"""Vision engine benchmark: EfficientNet-Lite0, torch eager vs ONNX Runtime, and the folder pipeline.

Everything is measured in this one run, so only ratios are compared (the machine is shared and noisy):

* inference latency and images/s for batch 1 and 8, with 1 thread and with all cores, torch vs ONNX
  Runtime (synthetic input, warm-up first, median of N runs);
* ``--backend auto``: the backend it picks (re-measured) against the fastest in the table above.
  Target: auto within 1.05x of the fastest backend's latency;
* the end-to-end folder rate (decode + preprocess on decode threads overlapping inference) against the
  pure inference rate of the same backend, batch and threads. Target: >= 0.8x.

Usage: python bench/vision.py [--iterations N] [--images N] [--json] [--no-write]
Writes its table under "## Vision" in bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.model_refs import resolve_model_ref

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Vision"


def make_folder(target: Path, count: int) -> Path:
    """``count`` photos: the sample photos repeated (distinct files, so nothing is cached by name)."""
    from engines.vision.labels import sample_images

    photos = sample_images()
    target.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        source = photos[n % len(photos)]
        shutil.copy(source, target / f"{n:04d}-{source.name}")
    return target


def measure(threads: int, iterations: int, folder: Path, images: int, repeats: int) -> dict[str, Any]:
    """All measurements for one thread count."""
    import statistics

    from engines.base import DirectContext
    from engines.vision.autoselect import choose
    from engines.vision.engine import VisionEngine

    ctx = DirectContext()
    engine = VisionEngine()
    lite0 = str(resolve_model_ref("efficientnet-lite0", "vision"))
    engine.load(lite0, "cpu", {"backend": "onnxruntime", "threads": threads, "batch": 8}, ctx)
    try:
        bench = engine.run("benchmark", {"batch_sizes": [1, 8], "iterations": iterations, "warmup": 3,
                                         "backends": ["torch", "onnxruntime"]}, ctx)
        runtime = engine._runtime
        assert runtime is not None
        auto = {batch: choose(runtime, "fp32", batch, remeasure=True) for batch in (1, 8)}
        engine.run("classify", {"paths": [str(folder)], "batch": 8}, ctx)  # warms the page cache
        # Pure inference and the folder pipeline alternate (ABAB) over the same number of images, so
        # background load hits both alike; medians are compared.
        pure: list[float] = []
        folder_runs: list[dict[str, float]] = []
        for _ in range(repeats):
            synthetic = engine.run("benchmark", {"batch_sizes": [8], "iterations": max(1, images // 8),
                                                 "warmup": 1}, ctx)
            pure.append(synthetic["rows"][0]["images_per_s"])
            folder_runs.append(engine.run("classify", {"paths": [str(folder)], "batch": 8}, ctx)["metrics"])
        ceiling = cpu_ceiling(engine, folder)
    finally:
        engine.unload()
    rates = [f["images_per_s"] for f in folder_runs]
    middle = folder_runs[rates.index(sorted(rates)[len(rates) // 2])]
    return {"threads": threads, "rows": bench["rows"], "auto": auto, "folder": middle,
            "folder_rate": statistics.median(rates), "pure_rate": statistics.median(pure), "cpu": ceiling}


def cpu_ceiling(engine: Any, folder: Path) -> dict[str, float]:
    """CPU milliseconds per image of decode + preprocess and of inference, and the rate ratio they allow
    when the CPU is saturated (no idle core for the decode thread to use)."""
    import numpy as np

    from engines.vision.pipeline import prepare

    runtime = engine._runtime
    paths = sorted(folder.iterdir())
    started = time.thread_time()
    arrays = [prepare(i, p, runtime.model.preprocess).array for i, p in enumerate(paths)]
    prep_ms = (time.thread_time() - started) * 1000 / len(paths)
    backend = runtime.get("onnxruntime", "fp32")
    batch = np.stack([a for a in arrays[:8] if a is not None])
    backend.infer(batch)
    started = time.process_time()
    for _ in range(4):
        backend.infer(batch)
    infer_ms = (time.process_time() - started) * 1000 / (4 * len(batch))
    return {"prep_cpu_ms": prep_ms, "infer_cpu_ms": infer_ms, "ceiling": infer_ms / (infer_ms + prep_ms)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios against the targets."""
    checks: list[dict[str, Any]] = []
    for run in runs:
        latency = {(r["backend"], r["batch"]): r["latency_median_ms"] for r in run["rows"]}
        for batch, choice in run["auto"].items():
            fastest = min(latency[(b, batch)] for b in ("torch", "onnxruntime"))
            ratio = latency[(choice.backend, batch)] / fastest
            checks.append({"what": f"auto picks {choice.backend}, {run['threads']} thread(s), batch {batch}",
                           "ratio": ratio, "target": "<= 1.05", "ok": ratio <= 1.05})
        ratio = run["folder_rate"] / run["pure_rate"]
        checks.append({"what": f"folder end-to-end / pure inference (onnxruntime, batch 8, "
                               f"{run['threads']} thread(s))", "ratio": ratio, "target": ">= 0.80",
                       "ok": ratio >= 0.8})
    return {"checks": checks}


def markdown(runs: list[dict[str, Any]], summary: dict[str, Any], machine: str, images: int,
             load: tuple[float, float]) -> str:
    """The RESULTS.md section."""
    lines = [HEADING, "",
             f"`python bench/vision.py` — EfficientNet-Lite0 (real ImageNet weights), fp32, CPU. {machine}. "
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with the machine's 1-minute load average at "
             f"{load[0]:.1f} before and {load[1]:.1f} after (other work shares the CPU); all numbers from one "
             "run: compare ratios only.", "",
             "| threads | backend | batch | median latency (ms) | p90 (ms) | images/s | vs fastest |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for run in runs:
        latency = {(r["backend"], r["batch"]): r["latency_median_ms"] for r in run["rows"]}
        for row in run["rows"]:
            fastest = min(latency[(b, row["batch"])] for b in ("torch", "onnxruntime"))
            lines.append(f"| {run['threads']} | {row['backend']} | {row['batch']} | {row['latency_median_ms']:.1f} | "
                         f"{row['latency_p90_ms']:.1f} | {row['images_per_s']:.1f} | "
                         f"{row['latency_median_ms'] / fastest:.2f}x |")
    lines += ["", f"Folder pipeline ({images} JPEGs, 300x451 to 512x512; onnxruntime, batch 8):", "",
              "| threads | end-to-end images/s | pure inference images/s | ratio | decode ms | preprocess ms | "
              "inference ms/image | CPU ms/image decode+preprocess / inference | ratio if CPU-bound |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        f, cpu = run["folder"], run["cpu"]
        lines.append(f"| {run['threads']} | {run['folder_rate']:.1f} | {run['pure_rate']:.1f} | "
                     f"{run['folder_rate'] / run['pure_rate']:.2f} | {f['decode_ms_mean']:.2f} | "
                     f"{f['preprocess_ms_mean']:.2f} | {f['inference_ms_mean']:.2f} | "
                     f"{cpu['prep_cpu_ms']:.2f} / {cpu['infer_cpu_ms']:.2f} | {cpu['ceiling']:.2f} |")
    lines += ["", "Pure inference: the benchmark op on synthetic batches of 8, the same image count, alternated "
              "with the folder runs (median of the repeats). Stage times are wall times per image; decode and "
              "preprocess run on decode threads while the previous batch is inferred (docs/vision.md, \"Folder "
              "pipeline\": with no free core they run at low priority). The last column is inference CPU / "
              "(inference + decode + preprocess CPU): the ratio left if every core were busy with real work; "
              "low-priority decoders beat it by using the time inference threads spend waiting at barriers."]
    lines += ["", "| check | ratio | target | result |", "|---|---:|---|---|"]
    for check in summary["checks"]:
        lines.append(f"| {check['what']} | {check['ratio']:.2f} | {check['target']} | "
                     f"{'met' if check['ok'] else 'MISSED'} |")
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Replace (or add) the Vision section of bench/RESULTS.md, leaving the other sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == HEADING), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    RESULTS.write_text(new)


def main() -> int:
    """Measure, print, record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="timed runs per case (default 20)")
    parser.add_argument("--images", type=int, default=96, help="images in the folder run (default 96)")
    parser.add_argument("--repeats", type=int, default=3, help="alternated folder/pure runs (default 3)")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vision-bench-") as home:
        os.environ["WORKBENCH_HOME"] = home  # fresh caches: the auto choice is measured, not remembered
        from app.devices import cpu_info

        cpu = cpu_info()
        folder = make_folder(Path(home) / "photos", args.images)
        cores = max(1, os.cpu_count() or 1)
        load_before = os.getloadavg()[0]
        runs = [measure(threads, args.iterations, folder, args.images, args.repeats)
                for threads in sorted({1, cores})]
        load_after = os.getloadavg()[0]
    summary = summarise(runs)
    machine = (f"{cpu['model']}, {cpu['logical_cores']} logical / {cpu['physical_cores']} physical cores, "
               f"ISA {' '.join(cpu['isa'])}")
    section = markdown(runs, summary, machine, args.images, (load_before, load_after))
    if args.json:
        for run in runs:
            run["auto"] = {k: {"backend": v.backend, "timings_ms": v.timings_ms} for k, v in run["auto"].items()}
        print(json.dumps({"runs": runs, "summary": summary}, indent=2, default=str))
    else:
        print(section)
    if not args.no_write:
        write_section(section)
    return 0 if all(c["ok"] for c in summary["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
