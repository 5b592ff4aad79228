"""BLEU / ROUGE-L of answers, judge-grade parsing and the Pareto front (pure functions, no model)."""

from __future__ import annotations

import pytest

from app.quality.answers import DEFAULT_SET, judge_prompt, load_answer_set, parse_grade
from app.quality.pareto import Point, pareto_front
from app.quality.text_scores import overlap_scores


def test_overlap_scores_are_sacrebleu_and_rouge_scores() -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    answers = ["The capital of France is Paris.", "Tokyo is the capital.", "I do not know."]
    references = ["The capital of France is Paris.", "The capital of Japan is Tokyo.", "A hexagon has six sides."]
    scores = overlap_scores(answers, references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(answers, [references]).score)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = [100 * scorer.score(r, a)["rougeL"].fmeasure for a, r in zip(answers, references, strict=True)]
    assert scores["rouge_l"] == pytest.approx(sum(expected) / 3)
    assert scores["per_item"][0] == {"bleu": pytest.approx(100.0), "rouge_l": pytest.approx(100.0)}
    assert scores["per_item"][2]["rouge_l"] < scores["per_item"][1]["rouge_l"]
    assert "tok:13a" in scores["bleu_signature"]


def test_the_shipped_set_and_the_judge_prompt() -> None:
    name, items = load_answer_set(DEFAULT_SET)
    assert name and len(items) >= 20 and len({i.id for i in items}) == len(items)
    prompt = judge_prompt("Grade it.", items[0], "Paris.")
    assert items[0].prompt in prompt and items[0].reference in prompt and "Paris." in prompt
    assert parse_grade("4") == 4
    assert parse_grade("Score: 5 - same fact") == 5
    assert parse_grade("I would give it 12") is None
    assert parse_grade("no idea") is None


def test_pareto_front_keeps_what_nothing_beats_on_both_axes() -> None:
    # Speed up (higher is better), KL down (lower is better).
    points = [Point("Q8_0", 100, 0.01), Point("Q4_0", 180, 0.60), Point("Q5_0", 140, 0.05),
              Point("slow and bad", 90, 0.70), Point("Q4_K", 180, 0.40)]
    assert pareto_front(points, higher_x=True, higher_y=False) == [True, False, True, False, True]
