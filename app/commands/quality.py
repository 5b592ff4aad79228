"""``workbench quality``: what a model (or a quantization of it) costs in quality.

``quality llm`` measures perplexity the way ``llama-perplexity`` does and, with ``--reference``, the KL
divergence, same-top-token rate and Δ-PPL against the reference model (e.g. the Q8_0 or F16 of the same
model); ``quality answers`` scores greedy answers against shipped reference answers (BLEU, ROUGE-L).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``quality`` group and its targets."""
    parser = subparsers.add_parser("quality", help="model quality: perplexity, KL divergence, answer scores")
    targets = parser.add_subparsers(dest="quality_target", metavar="TARGET")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])
    for add in TARGETS:
        add(targets)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", help="a .gguf file or model id (default: the last used LLM, else "
                        "the starter model)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda:0, ...")
    parser.add_argument("--threads", type=int, help="CPU threads (default: measured physical cores)")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")


def _register_llm(targets: Any) -> None:
    from app.quality.llm_quality import DEFAULT_TEXT

    parser = targets.add_parser("llm", help="perplexity (as llama-perplexity), KL divergence vs a reference")
    _add_common(parser)
    parser.add_argument("--reference", help="reference model (same tokenizer) for KL divergence and Δ-PPL")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT,
                        help=f"UTF-8 text to score (default: {DEFAULT_TEXT.name}, shipped)")
    parser.add_argument("--ctx", type=int, default=512, help="chunk length in tokens (default 512)")
    parser.add_argument("--chunks", type=int, help="score only the first N chunks (default: all)")
    parser.set_defaults(handler=run_llm)


def default_model_ref(given: str | None, op: str) -> str:
    """The model named with -m, else the default model for the LLM engine."""
    if given:
        return given
    from app.default_models import default_model

    return default_model("llm", op)


def _print_progress(event: Any) -> None:
    from app.messages import Progress

    if isinstance(event, Progress) and sys.stderr.isatty():
        print(f"\r{event.message}   ", end="", file=sys.stderr, flush=True)


def format_llm(result: Mapping[str, Any]) -> str:
    """The human-readable figures of one quality run (llama-perplexity's names and ± uncertainties)."""
    model = result.get("model") or {}
    lines = [f"{model.get('name')} ({model.get('quantization')}) on {model.get('device')}: ctx {result['n_ctx']},"
             f" {result['n_chunks']} chunks, {result['tokens_scored']} tokens scored in {result['seconds']:.2f} s"
             f" ({result['tokens_per_s']:.1f} tokens/s)",
             f"PPL                 {result['ppl']:.4f} ± {result['ppl_uncertainty']:.4f}"]
    if "kld_mean" in result:
        ref = (result.get("reference") or {}).get("model") or {}
        lines += [
            f"reference           {ref.get('name')} ({ref.get('quantization')})",
            f"PPL(reference)      {result['ppl_base']:.4f} ± {result['ppl_base_uncertainty']:.4f}",
            f"Δ-PPL               {result['delta_ppl']:+.4f} ± {result['delta_ppl_uncertainty']:.4f}",
            f"PPL ratio           {result['ppl_ratio']:.5f} ± {result['ppl_ratio_uncertainty']:.5f}",
            f"KL divergence mean  {result['kld_mean']:.6f} ± {result['kld_uncertainty']:.6f}",
            f"KL divergence p99   {result['kld_p99']:.6f}   (median {result['kld_median']:.6f}, "
            f"max {result['kld_max']:.6f})",
            f"same top token      {result['same_top_pct']:.2f} % ± {result['same_top_pct_uncertainty']:.2f} %",
        ]
    return "\n".join(lines)


def run_llm(args: argparse.Namespace) -> int:
    """Score the model (and the reference, once) in workers, recorded in the history; print the figures."""
    from app.history_open import open_history
    from app.quality.llm_quality import QualityError, QualityRequest, measure_llm_quality

    if args.ctx < 16 or (args.chunks is not None and args.chunks < 1):
        print("error: --ctx must be at least 16 and --chunks at least 1", file=sys.stderr)
        return 2
    request = QualityRequest(default_model_ref(args.model, "quality"), args.reference, args.text, args.ctx,
                             args.chunks, args.device, args.threads)
    history = open_history()
    try:
        report = measure_llm_quality(request, history, on_event=_print_progress)
    except QualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        history.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    outcome = report.outcome
    if not outcome.ok or outcome.result is None:
        print(f"error: the quality run {outcome.status}: {outcome.error}", file=sys.stderr)
        return 1
    if args.json:
        payload: dict[str, Any] = {"run_id": outcome.run_id, "result": outcome.result}
        if report.reference_cache is not None:
            payload["reference_cache"] = str(report.reference_cache)
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(format_llm(outcome.result))
    if report.reference_cache is not None:
        size = report.reference_cache.stat().st_size
        how = "reused" if report.reference_cached else "written"
        print(f"reference logits    {how}: {report.reference_cache} ({size / 2**20:.2f} MiB, top-"
              f"{request.top_k} log-probs per scored token)")
    print(f"\nrecorded as run {outcome.run_id}", file=sys.stderr)
    return 0


def _register_answers(targets: Any) -> None:
    from app.quality.answers import DEFAULT_SET

    parser = targets.add_parser("answers", help="greedy answers vs reference answers: BLEU, ROUGE-L, judge")
    _add_common(parser)
    parser.add_argument("--judge", help="a local model that grades each answer 1-5 with the shipped rubric "
                        "(its opinion, reported as such)")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, dest="set_path",
                        help=f"questions with reference answers (default: {DEFAULT_SET.name}, shipped)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length limit (default 64)")
    parser.add_argument("--seed", type=int, default=42, help="sampling seed (answers are greedy anyway)")
    parser.set_defaults(handler=run_answers)


def format_answers(model: str, scores: Mapping[str, Any], judge: Mapping[str, Any] | None,
                   items: int) -> str:
    """The set's scores, with the judge's grade labelled as its opinion."""
    lines = [f"{model}: {items} questions, greedy",
             f"BLEU (corpus)       {scores['bleu']:.2f}   {scores.get('bleu_signature', '')}",
             f"BLEU (sentence mean){scores['sentence_bleu_mean']:7.2f}",
             f"ROUGE-L F1          {scores['rouge_l']:.2f}"]
    if judge is not None:
        mean = judge.get("mean")
        lines.append(f"judge's opinion     {mean:.2f} / 5 by {judge['model']} ({judge['graded']} graded, "
                     f"{judge['no_grade']} without a grade)" if mean is not None else
                     f"judge's opinion     none: {judge['model']} gave no usable grade")
    return "\n".join(lines)


def run_answers(args: argparse.Namespace) -> int:
    """Answer the set in a worker, score it, print the scores; the set is one recorded run."""
    from app.history_open import open_history
    from app.quality.answers import AnswerRequest, measure_answers
    from app.quality.llm_quality import QualityError

    if args.max_tokens < 1 or (args.limit is not None and args.limit < 1):
        print("error: --max-tokens and --limit must be at least 1", file=sys.stderr)
        return 2
    request = AnswerRequest(default_model_ref(args.model, "answers"), args.judge, args.set_path,
                            args.max_tokens, args.seed, args.device, args.threads, args.limit)

    def progress(done: int, total: int, message: str) -> None:
        if sys.stderr.isatty():
            print(f"\r[{done}/{total}] {message}   ", end="", file=sys.stderr, flush=True)

    history = open_history()
    try:
        report = measure_answers(request, history, on_progress=progress)
    except QualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        history.close()
    if args.json:
        print(json.dumps({"run_id": report.run_id, "scores": report.scores, "judge": report.judge,
                          "items": report.items}, indent=2))
        return 0
    print(format_answers(request.model, report.scores, report.judge, len(report.items)))
    print(f"\nrecorded as run {report.run_id}", file=sys.stderr)
    return 0


# Each target adds its own sub-parser.
TARGETS: tuple[Callable[[Any], None], ...] = (_register_llm, _register_answers)
