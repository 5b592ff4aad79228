"""Where a GPU starts to pay for junction-tree inference: numpy vs torch per shipped network.

Each network is compiled on both backends and queried with the same random evidence; the script prints
the median query time of each, their ratio and the network's junction-tree size, then the crossover: the
smallest tree from which torch on the device is faster for every larger tree measured. The Bayes engine's
``auto`` backend keeps trees below ``GPU_MIN_ENTRIES`` (engines/bayes/spec.py) on numpy; set it from this.

    python bench/bayes_gpu.py --device cuda:0 [--networks a,b,...] [--repeat 9] [--json OUT]

Without a GPU, ``--device cpu`` compares numpy with torch on the CPU (a dry run of the script).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.base import DirectContext
from engines.bayes import catalogue
from engines.bayes.engine import BayesEngine

DEFAULT = ("alarm", "insurance", "hepar2", "win95pts", "hailfinder", "pathfinder", "andes", "pigs", "munin1",
           "link", "munin2", "munin", "barley", "diabetes")


def _evidence(info: dict[str, Any], rng: random.Random, count: int = 3) -> dict[str, str]:
    nodes = info.get("node_list") or []
    picked = rng.sample(nodes, min(count, len(nodes)))
    return {n["name"]: rng.choice(n["states"]) for n in picked}


def measure(network: str, device: str, backend: str, repeat: int, seed: int) -> dict[str, Any]:
    """Compile ``network`` on one backend and time ``repeat`` queries (after one warm-up)."""
    engine = BayesEngine()
    options = {"backend": backend, "gpu_min_entries": 0}
    info = dict(engine.load(network, device if backend != "numpy" else "cpu", options, DirectContext()))
    if not info.get("compiled"):
        return {"compiled": False, "refusal": info.get("refusal", "")}
    full = dict(engine.run("info", {}, DirectContext()))
    rng = random.Random(seed)
    evidence = [_evidence(full, rng) for _ in range(repeat + 1)]
    times = []
    for index, found in enumerate(evidence):
        start = time.perf_counter()
        try:
            engine.run("query", {"evidence": found, "method": "jt"}, DirectContext())
        except Exception:  # impossible evidence: time it all the same (the calibration ran)
            pass
        if index:
            times.append(time.perf_counter() - start)
    engine.unload()
    tree = info.get("junction_tree") or {}
    return {"compiled": True, "entries": int(tree.get("total_entries", 0)), "query_ms": 1000 * statistics.median(times),
            "compile_s": float((info.get("metrics") or {}).get("compile_s", 0.0))}


def main() -> int:
    """Measure, print the table and the crossover, write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--networks", default=",".join(DEFAULT))
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for network in [n for n in args.networks.split(",") if n in catalogue.NETWORKS]:
        numpy_row = measure(network, args.device, "numpy", args.repeat, args.seed)
        if not numpy_row["compiled"]:
            print(f"{network}: not compiled ({numpy_row['refusal'][:80]})", flush=True)
            continue
        torch_row = measure(network, args.device, "torch", args.repeat, args.seed)
        if not torch_row["compiled"]:
            print(f"{network}: not compiled on {args.device}", flush=True)
            continue
        ratio = numpy_row["query_ms"] / torch_row["query_ms"]
        rows.append({"network": network, "entries": numpy_row["entries"], "numpy_ms": numpy_row["query_ms"],
                     "torch_ms": torch_row["query_ms"], "speedup": ratio})
        print(f"{network:12s} {numpy_row['entries']:>14,} entries  numpy {numpy_row['query_ms']:9.2f} ms  "
              f"torch/{args.device} {torch_row['query_ms']:9.2f} ms  speed-up {ratio:6.2f}x", flush=True)
    rows.sort(key=lambda r: r["entries"])
    crossover = None
    for index, row in enumerate(rows):
        if all(r["speedup"] > 1.0 for r in rows[index:]):
            crossover = row["entries"]
            break
    print(f"crossover: {'none measured' if crossover is None else f'{crossover:,} entries'} on {args.device}")
    if args.json:
        args.json.write_text(json.dumps({"device": args.device, "rows": rows, "crossover_entries": crossover},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
