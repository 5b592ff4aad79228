"""Folder pipeline tuning: end-to-end folder rate for decode plans and inference thread counts.

Measures, in one run, the pure inference rate with every core (the reference) and the end-to-end folder
rate (decode + preprocess + inference) for each combination of inference threads, decode threads,
decode priority and Python's thread switch interval, so the defaults in
``engines.vision.pipeline.DecodePlan`` can be checked on a machine.

Usage: python bench/vision_pipeline.py [--images N] [--repeats N] [--threads 16,12] [--decoders 2,4]
       [--switch-ms 5,0.5]   (prints a Markdown table)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from app.model_refs import resolve_model_ref

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=384, help="images in the folder (default 384)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case, median kept (default 3)")
    parser.add_argument("--threads", default="", help="inference thread counts, e.g. 16,12 (default: all cores, "
                                                       "three quarters and half of them)")
    parser.add_argument("--decoders", default="", help="decode thread counts, e.g. 2,4 (default 1,2,4,8 "
                                                        "up to the cores)")
    parser.add_argument("--switch-ms", default="5", help="Python thread switch intervals to try, in ms "
                                                         "(default 5, Python's own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vision-pipeline-") as home:
        os.environ["WORKBENCH_HOME"] = home
        from vision import make_folder

        from engines.base import DirectContext
        from engines.vision.engine import VisionEngine
        from engines.vision.pipeline import DecodePlan

        folder = make_folder(Path(home) / "photos", args.images)
        cores = os.cpu_count() or 1
        ctx = DirectContext()
        thread_counts = (_numbers(args.threads) or
                         sorted({cores, max(1, cores - max(1, cores // 4)), max(1, cores // 2)}, reverse=True))
        decoders = _numbers(args.decoders) or sorted({1, 2, min(8, cores), min(4, cores)})
        switches = [float(v) for v in args.switch_ms.split(",") if v.strip()]
        print(f"{cores} cores, {args.images} images, onnxruntime fp32 batch 8; default decoders: "
              f"{DecodePlan.for_cores(cores, cores)} at {cores} threads\n")
        print("| inference threads | decode threads | priority | switch ms | images/s | vs pure inference at all "
              "cores |")
        print("|---:|---:|---|---:|---:|---:|")
        reference = 0.0
        for threads in thread_counts:
            engine = VisionEngine()
            lite0 = str(resolve_model_ref("efficientnet-lite0", "vision"))
            engine.load(lite0, "cpu", {"backend": "onnxruntime", "threads": threads, "batch": 8},
                        ctx)
            try:
                engine.run("classify", {"paths": [str(folder)]}, ctx)  # page cache, warm-up
                pure = statistics.median(
                    engine.run("benchmark", {"batch_sizes": [8], "iterations": args.images // 8, "warmup": 2},
                               ctx)["rows"][0]["images_per_s"] for _ in range(args.repeats))
                if threads == cores:
                    reference = pure
                print(f"| {threads} | - | pure inference | - | {pure:.1f} | {pure / reference:.2f} |")
                for switch in switches:
                    sys.setswitchinterval(switch / 1000)
                    for workers in decoders:
                        for background in (False, True):
                            plan = DecodePlan(workers, background)
                            engine._decode = plan
                            rate = statistics.median(
                                engine.run("classify", {"paths": [str(folder)]}, ctx)["metrics"]["images_per_s"]
                                for _ in range(args.repeats))
                            default = " (default)" if DecodePlan.for_cores(threads, cores) == plan else ""
                            print(f"| {threads} | {workers} | {'low' if background else 'normal'}{default} | "
                                  f"{switch:g} | {rate:.1f} | {rate / reference:.2f} |", flush=True)
            finally:
                engine.unload()
    return 0


def _numbers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


if __name__ == "__main__":
    sys.exit(main())
