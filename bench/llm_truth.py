"""Measurement truth: ``workbench bench llm`` against llama-bench on the same machine, in the same run.

llama-bench is built once (bench/llama_tools.py) from the llama.cpp that the installed llama-cpp-python
vendors, with the Makefile's portable flags. That build is static; the wheel's libraries are shared, which
alone costs some kernels a few per cent, so llama-bench also runs relinked against the wheel's own shared
libraries (the same code the workbench runs): the target is judged against that side, and the static
build's figure is reported beside it. For each starter model and thread count the three sides take turns
going first with the same test (``-p 512 -n 128 -r 3`` by default); each side is its own process, as a user runs
them: llama-bench with the environment the user has (no OpenMP settings), ``workbench bench llm`` through
``python -m app.cli`` (its worker sets its own thread environment), recording into a throw-away data
folder. The figure per test is llama-bench's ``avg_ts`` on both sides; the ratio is workbench ÷ llama-bench
per alternation, and the reported ratio the median over the alternations.

Target: every pp and tg ratio within 0.98-1.02.
Usage: python bench/llm_truth.py [--models smollm2-135m-instruct,gemma3-270m] [--threads 1,all]
                                 [-p 512] [-n 128] [-r 3] [--alternations 3] [--json FILE] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SECTION = "## LLM truth vs llama-bench"
LOW, HIGH = 0.98, 1.02
# Variables that change how llama.cpp's OpenMP threads wait: llama-bench runs as a user would run it.
_OMP_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "WORKBENCH_THREADS")


def run_llama_bench(binary: Path, model: Path, threads: int, n_prompt: int, n_gen: int,
                    reps: int) -> dict[str, float]:
    """avg_ts per test (``pp512``, ``tg128``) from one llama-bench process."""
    env = {k: v for k, v in os.environ.items() if k not in _OMP_VARIABLES}
    command = [str(binary), "-m", str(model), "-p", str(n_prompt), "-n", str(n_gen), "-r", str(reps),
               "-t", str(threads), "-o", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({done.returncode}): {done.stderr[-2000:]}")
    out: dict[str, float] = {}
    for test in json.loads(done.stdout):
        name = f"pp{test['n_prompt']}" if test["n_gen"] == 0 else f"tg{test['n_gen']}"
        out[name] = float(test["avg_ts"])
        out[f"{name}_flash_attn"] = test.get("flash_attn")
    return out


def run_workbench(model: Path, threads: int, n_prompt: int, n_gen: int, reps: int,
                  home: Path) -> dict[str, float]:
    """avg_ts per test from one ``workbench bench llm --json`` process (history in a throw-away folder)."""
    # app.cli is what the ``workbench`` launcher runs for this command, without the GUI and server groups.
    command = [sys.executable, "-m", "app.cli", "bench", "llm", "-m", str(model), "-p", str(n_prompt), "-n", str(n_gen),
               "-r", str(reps), "--threads", str(threads), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "WORKBENCH_HOME": str(home)},
                          check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"workbench bench llm failed ({done.returncode}): {done.stderr[-2000:]}")
    out: dict[str, float] = {}
    for row in json.loads(done.stdout)["results"]:
        out[row["test"]] = float(row["avg_ts"])
        out[f"{row['test']}_flash_attn"] = row.get("flash_attn")
    return out


def measure(models: list[str], thread_counts: list[int], n_prompt: int, n_gen: int, reps: int,
            alternations: int, save: Path | None = None) -> list[dict[str, Any]]:
    """Every model × thread count × alternation: both sides' avg_ts per test and the ratio.

    ``save``: a JSON file rewritten after every measurement, so a long run that is stopped keeps its rows.
    """
    from llama_tools import tool_path, wheel_linked

    from app.model_refs import resolve_model_ref

    binary = tool_path("llama-bench")
    same_libs = wheel_linked("llama-bench")
    paths = {ref: resolve_model_ref(ref, "llm") for ref in models}
    rows: list[dict[str, Any]] = []
    tests = [f"pp{n_prompt}"] * bool(n_prompt) + [f"tg{n_gen}"] * bool(n_gen)
    with tempfile.TemporaryDirectory() as home:
        # Configuration by configuration, so a run stopped early leaves complete sets of alternations.
        for ref in models:
            for threads in thread_counts:
                for alternation in range(alternations):
                    load = os.getloadavg()[0]
                    sides = {
                        "llama-bench": lambda t=threads, r=ref: run_llama_bench(binary, paths[r], t, n_prompt,
                                                                                 n_gen, reps),
                        "llama-bench (wheel libs)": lambda t=threads, r=ref: run_llama_bench(
                            same_libs, paths[r], t, n_prompt, n_gen, reps),
                        "workbench": lambda t=threads, r=ref: run_workbench(paths[r], t, n_prompt, n_gen, reps,
                                                                             Path(home)),
                    }
                    names = list(sides)
                    shift = alternation % len(names)  # each side goes first in turn
                    order = names[shift:] + names[:shift]
                    results = {}
                    for side in order:
                        results[side] = sides[side]()
                    for test in tests:
                        lb, wb = results["llama-bench"][test], results["workbench"][test]
                        same = results["llama-bench (wheel libs)"][test]
                        row = {"model": ref, "threads": threads, "alternation": alternation + 1, "test": test,
                               "llama_bench_ts": lb, "workbench_ts": wb, "ratio": wb / same, "first": order[0],
                               "wheel_libs_ts": same, "ratio_static": wb / lb,
                               "load_before": load, "load_after": os.getloadavg()[0],
                               "flash_attn": (results["llama-bench"].get(f"{test}_flash_attn"),
                                              results["workbench"].get(f"{test}_flash_attn"))}
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                    if save is not None:
                        save.write_text(json.dumps({"rows": rows}, indent=2))
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model × threads × test: medians over the alternations and the median ratio."""
    keys = list(dict.fromkeys((r["model"], r["threads"], r["test"]) for r in rows))
    out = []
    for model, threads, test in keys:
        group = [r for r in rows if (r["model"], r["threads"], r["test"]) == (model, threads, test)]
        ratio = statistics.median(r["ratio"] for r in group)
        out.append({"model": model, "threads": threads, "test": test,
                    "llama_bench_ts": statistics.median(r["llama_bench_ts"] for r in group),
                    "wheel_libs_ts": statistics.median(r["wheel_libs_ts"] for r in group),
                    "workbench_ts": statistics.median(r["workbench_ts"] for r in group),
                    "ratios": [r["ratio"] for r in group], "ratio": ratio, "met": LOW <= ratio <= HIGH,
                    "ratio_static": statistics.median(r["ratio_static"] for r in group)})
    return out


def table(summary: list[dict[str, Any]]) -> str:
    """Markdown: one line per model × threads × test."""
    lines = ["| model | threads | test | llama-bench, wheel's libs t/s | workbench t/s | ratios per alternation | "
             "median ratio | 0.98-1.02 | llama-bench, static build t/s | workbench ÷ static |",
             "|---|---:|---|---:|---:|---|---:|---|---:|---:|"]
    for s in summary:
        lines.append(f"| {s['model']} | {s['threads']} | {s['test']} | {s['wheel_libs_ts']:.2f} | "
                     f"{s['workbench_ts']:.2f} | {', '.join(f'{r:.3f}' for r in s['ratios'])} | "
                     f"{s['ratio']:.3f} | {'met' if s['met'] else 'MISSED'} | {s['llama_bench_ts']:.2f} | "
                     f"{s['ratio_static']:.3f} |")
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replace (or add) this section of bench/RESULTS.md, leaving other sections alone."""
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    start = old.find(SECTION + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end:] if end >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n")


def _threads(spec: str) -> list[int]:
    counts = [os.cpu_count() or 1 if part.strip() == "all" else int(part) for part in spec.split(",")]
    return list(dict.fromkeys(counts))


def main() -> int:
    """Run the comparison, print the table (and optionally record it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="smollm2-135m-instruct,gemma3-270m")
    parser.add_argument("--threads", default="1,all", help="thread counts; 'all' = every logical CPU")
    parser.add_argument("-p", "--n-prompt", type=int, default=512)
    parser.add_argument("-n", "--n-gen", type=int, default=128)
    parser.add_argument("-r", "--repetitions", type=int, default=3)
    parser.add_argument("--alternations", type=int, default=3)
    parser.add_argument("--json", help="also write every row and the summary to this file")
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--from-json", help="summarize the rows a run saved with --json instead of measuring")
    args = parser.parse_args()

    import llama_cpp

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    thread_counts = _threads(args.threads)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())["rows"]
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(Path(args.from_json).stat().st_mtime))
    else:
        rows = measure(models, thread_counts, args.n_prompt, args.n_gen, args.repetitions, args.alternations,
                       Path(args.json) if args.json else None)
    load_before, load_after = rows[0]["load_before"], rows[-1]["load_after"]
    summary = summarize(rows)
    body = table(summary)
    print(body)
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    fa = sorted({str(r["flash_attn"]) for r in rows})
    done = max(r["alternation"] for r in rows)
    text = (f"{SECTION}\n\n`.venv/bin/python bench/llm_truth.py --write-results` — {started}, "
            f"{platform.machine()}, {os.cpu_count()} vCPU, llama-cpp-python {llama_cpp.__version__}. Three sides "
            f"per alternation, each first in turn, each a fresh process: `workbench bench llm`; llama-bench built "
            f"by bench/llama_tools.py from the vendored llama.cpp with the Makefile's flags (a static build); and "
            f"the same llama-bench objects linked against the wheel's shared libraries (the code the workbench "
            f"runs). `-p {args.n_prompt} -n {args.n_gen} -r {args.repetitions}`, {done} alternation(s); figures "
            f"are llama-bench's avg_ts (mean of per-repetition t/s), t/s columns the medians over alternations. "
            f"The target ratio is workbench ÷ llama-bench on the same libraries (how each side measures); the last "
            f"column is against the static build (what the build itself adds). Flash attention (llama-bench, "
            f"workbench): {', '.join(fa)}. 1-minute load average {load_before:.2f} before, "
            f"{load_after:.2f} after.\n\n{body}\n")
    if args.write_results:
        write_results(text)
    return 0 if all(s["met"] for s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
