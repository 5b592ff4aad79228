"""The workbench's perplexity against llama.cpp's own ``llama-perplexity`` on the same GGUF, text and settings.

Both score the same file with the same context (``-c``), chunk count (``--chunks``), threads (``-t``) and
attention kernels (``-fa off``: the workbench loads without flash attention unless asked, and llama.cpp's
default ``auto`` would pick it on some machines); llama-perplexity keeps its default batch (2048, so four
512-token chunks share one decode call; the workbench decodes one chunk per call):
  (a) peer: ``llama-perplexity`` built from the vendored llama.cpp of the installed llama-cpp-python
      (bench/llama_tools.py, once, into a cache); its ``Final estimate: PPL`` and, for speed, its own
      ``total time`` (from after its warm-up to the end: tokenizing, decoding, log-softmax);
  (b) workbench: the LLM engine's ``quality`` op in this process (``engines.llm.engine.LlamaEngine``), its
      ``seconds`` measured over the same span (tokenizing to the last chunk).
Tokens scored per second = chunks x (ctx - 1 - ctx/2) / seconds. The two alternate for ``--runs`` rounds and
the medians are compared. Targets: |PPL(b) / PPL(a) - 1| <= 0.5 %; rate(b) / rate(a) >= 0.9.

Usage: python bench/quality.py [-m MODEL] [--text FILE] [--ctx 512] [--chunks 8] [--threads N] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_PPL = re.compile(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)")
_TOTAL = re.compile(r"total time =\s+([0-9.]+) ms")


def peer_run(tool: Path, model: Path, text: Path, ctx: int, chunks: int, threads: int) -> dict[str, float]:
    """One llama-perplexity run: its PPL, uncertainty and seconds (its own total time)."""
    command = [str(tool), "-m", str(model), "-f", str(text), "-c", str(ctx), "--chunks", str(chunks),
               "-t", str(threads), "-tb", str(threads), "-fa", "off"]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    output = done.stdout + done.stderr
    ppl, total = _PPL.search(output), _TOTAL.search(output)
    if done.returncode != 0 or ppl is None:
        raise RuntimeError(f"llama-perplexity failed ({done.returncode}):\n{output[-3000:]}")
    # Older builds print a perf total; newer ones stamp each log line (min.s.ms.us): the scoring is the time
    # from "calculating perplexity" to the final estimate, as the workbench's own figure counts.
    seconds = float(total.group(1)) / 1000 if total is not None else _stamped_seconds(output)
    return {"ppl": float(ppl.group(1)), "ppl_uncertainty": float(ppl.group(2)), "seconds": seconds, "wall_s": wall}


_STAMP = re.compile(r"(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) [IWE] ")


def _stamp_before(output: str, marker: str) -> float:
    # Progress lines end without a newline, so a stamp may sit mid-line: take the last one before the marker.
    index = output.index(marker)
    found = [m for m in _STAMP.finditer(output, 0, index)]
    if not found:
        raise RuntimeError(f"no time stamp before the llama-perplexity line with {marker!r}")
    minutes, secs, millis, micros = (int(g) for g in found[-1].groups())
    return minutes * 60 + secs + millis / 1e3 + micros / 1e6


def _stamped_seconds(output: str) -> float:
    return _stamp_before(output, "Final estimate") - _stamp_before(output, "calculating perplexity")


def workbench_run(engine: Any, text: Path, ctx: int, chunks: int) -> dict[str, float]:
    """One quality op on the already loaded engine."""
    from engines.base import DirectContext

    result = engine.run("quality", {"text_path": str(text), "ctx": ctx, "chunks": chunks}, DirectContext())
    return {"ppl": result["ppl"], "ppl_uncertainty": result["ppl_uncertainty"], "seconds": result["seconds"],
            "tokens_scored": result["tokens_scored"]}


def main(argv: list[str] | None = None) -> int:
    """Measure both, print a Markdown summary (or JSON), exit 1 when a target is missed."""
    from app.model_refs import resolve_model_ref
    from app.quality.llm_quality import DEFAULT_TEXT
    from bench.llama_tools import tool_path
    from core.thread_env import default_threads
    from engines.base import DirectContext
    from engines.llm.engine import LlamaEngine

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", default="smollm2-135m-instruct")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    threads = args.threads or default_threads()
    model = resolve_model_ref(args.model, "llm")
    tool = tool_path("llama-perplexity")
    engine = LlamaEngine()
    engine.load(str(model), "cpu", {"n_ctx": args.ctx, "n_batch": args.ctx, "n_ubatch": min(512, args.ctx),
                                    "threads": threads}, DirectContext())
    scored = args.chunks * (args.ctx - 1 - args.ctx // 2)
    peer: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    try:
        for index in range(args.runs):
            # Alternate which goes first so a change in background load hits both alike.
            order = ("peer", "ours") if index % 2 == 0 else ("ours", "peer")
            for side in order:
                if side == "peer":
                    peer.append(peer_run(tool, model, args.text, args.ctx, args.chunks, threads))
                else:
                    ours.append(workbench_run(engine, args.text, args.ctx, args.chunks))
    finally:
        engine.unload()
    peer_s = statistics.median(r["seconds"] for r in peer)
    ours_s = statistics.median(r["seconds"] for r in ours)
    ppl_ratio = ours[0]["ppl"] / peer[0]["ppl"]
    rate_ratio = (scored / ours_s) / (scored / peer_s)
    summary = {
        "model": model.name, "text": args.text.name, "ctx": args.ctx, "chunks": args.chunks, "threads": threads,
        "tokens_scored": scored, "runs": args.runs,
        "llama_perplexity": {"ppl": peer[0]["ppl"], "ppl_uncertainty": peer[0]["ppl_uncertainty"],
                             "seconds": [r["seconds"] for r in peer], "tokens_per_s": scored / peer_s},
        "workbench": {"ppl": ours[0]["ppl"], "ppl_uncertainty": ours[0]["ppl_uncertainty"],
                      "seconds": [r["seconds"] for r in ours], "tokens_per_s": scored / ours_s},
        "ppl_difference_pct": 100 * (ppl_ratio - 1), "rate_ratio": rate_ratio,
        "ppl_ok": abs(ppl_ratio - 1) <= 0.005, "rate_ok": rate_ratio >= 0.9,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{model.name}, {args.text.name}, ctx {args.ctx}, {args.chunks} chunks ({scored} tokens scored), "
              f"{threads} threads, median of {args.runs} alternated runs\n")
        print("| | PPL | seconds (median) | tokens scored/s |\n| --- | ---: | ---: | ---: |")
        for name, key in (("llama-perplexity", "llama_perplexity"), ("workbench quality op", "workbench")):
            side = summary[key]
            print(f"| {name} | {side['ppl']:.4f} ± {side['ppl_uncertainty']:.4f} | "
                  f"{statistics.median(side['seconds']):.2f} | {side['tokens_per_s']:.1f} |")
        print(f"\nPPL difference {summary['ppl_difference_pct']:+.4f} % (target within ±0.5 %: "
              f"{'met' if summary['ppl_ok'] else 'MISSED'}); rate ratio {rate_ratio:.3f} (target >= 0.9: "
              f"{'met' if summary['rate_ok'] else 'MISSED'})")
    return 0 if summary["ppl_ok"] and summary["rate_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
