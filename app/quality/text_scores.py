"""Overlap scores of answers against reference answers: BLEU (sacrebleu) and ROUGE-L (rouge-score).

Both measure word overlap, not truth: a correct answer worded differently scores low. They are still the
scores lm-eval-harness and most papers report for short generations, and they move when a quantization
changes what a model says, which is what the workbench compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def overlap_scores(answers: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Corpus BLEU, mean sentence BLEU and mean ROUGE-L F1 (0-100), plus per-item values."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers for {len(references)} references")
    if not answers:
        raise ValueError("no answers to score")
    bleu = BLEU()
    corpus = bleu.corpus_score(list(answers), [list(references)])
    signature = str(bleu.get_signature())  # tokenizer, smoothing and version: what makes BLEU comparable
    # Sentence BLEU needs smoothing (one missing 4-gram would zero it), as sacrebleu's sentence_bleu does.
    sentence_bleu = BLEU(effective_order=True)
    sentence = [sentence_bleu.sentence_score(a, [r]).score for a, r in zip(answers, references, strict=True)]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [100.0 * scorer.score(r, a)["rougeL"].fmeasure for a, r in zip(answers, references, strict=True)]
    return {
        "bleu": float(corpus.score), "bleu_signature": signature,
        "sentence_bleu_mean": sum(sentence) / len(sentence), "rouge_l": sum(rouge) / len(rouge),
        "per_item": [{"bleu": b, "rouge_l": r} for b, r in zip(sentence, rouge, strict=True)],
    }

