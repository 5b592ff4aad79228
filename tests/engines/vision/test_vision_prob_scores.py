"""AUC, calibration and top-k of the labelled evaluation equal scikit-learn's on the digits eval set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vision_helpers import RecordingContext, digits_reference_logits, loaded_engine

from engines.vision.prob_scores import ProbabilityLog, probability_scores, reliability


@pytest.fixture(scope="module")
def evaluated(digits: dict[str, Path]) -> Iterator[dict[str, Any]]:
    with loaded_engine(str(digits["onnx"]), "cpu", {"threads": 1}) as engine:
        yield dict(engine.run("eval", {"folder": str(digits["test"]), "agreement": False}, RecordingContext()))


def independent_probabilities(digits: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """(targets, softmax probabilities) of the test set computed here with onnxruntime, not the engine."""
    targets, logits = digits_reference_logits(digits)
    logits = logits.astype(np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return targets, exp / exp.sum(axis=1, keepdims=True)


def test_auc_ece_and_top_k_equal_scikit_learn(digits: dict[str, Path], evaluated: dict[str, Any]) -> None:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, roc_auc_score, top_k_accuracy_score

    targets, probs = independent_probabilities(digits)
    scores = evaluated["probability"]
    assert scores["auc_roc_macro"] == pytest.approx(
        roc_auc_score(targets, probs, multi_class="ovr", average="macro"), abs=1e-6)
    onehot = np.eye(10)[targets]
    assert scores["auc_pr_macro"] == pytest.approx(average_precision_score(onehot, probs, average="macro"), abs=1e-6)
    per_class_roc = roc_auc_score(onehot, probs, average=None)
    assert [c["auc_roc"] for c in scores["auc_per_class"]] == pytest.approx(list(per_class_roc), abs=1e-6)
    for k in (1, 2, 3, 5):
        assert scores["topk_accuracy"][str(k)] == pytest.approx(
            top_k_accuracy_score(targets, probs, k=k, labels=list(range(10))))
    assert scores["topk_accuracy"]["1"] == pytest.approx(evaluated["top1"])
    # ECE from scikit-learn's reliability curve, weighted by how many images each bin holds.
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == targets
    accuracy, mean_conf = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    bins = [b for b in scores["reliability"]["bins"] if b["count"]]
    assert [b["accuracy"] for b in bins] == pytest.approx(list(accuracy), abs=1e-9)
    assert [b["confidence"] for b in bins] == pytest.approx(list(mean_conf), abs=1e-5)
    counts = np.array([b["count"] for b in bins])
    assert counts.sum() == len(targets)
    expected_ece = float((counts / counts.sum() * np.abs(accuracy - mean_conf)).sum())
    assert scores["ece"] == pytest.approx(expected_ece, abs=1e-5)
    assert evaluated["metrics"]["ece"] == scores["ece"]
    assert 0.5 < scores["auc_roc_macro"] <= 1.0  # a trained model ranks far better than chance


def test_a_class_without_positives_is_left_out_of_the_macro_mean() -> None:
    log = ProbabilityLog([0, 1, 2])
    rng = np.random.default_rng(0)
    for target in [0, 1, 0, 1, 0, 1]:  # class 2 never appears
        p = rng.dirichlet(np.ones(3))
        log.add(p, target)
    scores = probability_scores(log, ["a", "b", "c"])
    assert scores["auc_per_class"][2]["auc_roc"] is None
    assert scores["auc_classes_scored"] == 2
    assert scores["auc_roc_macro"] == pytest.approx(
        np.mean([c["auc_roc"] for c in scores["auc_per_class"][:2]]))


def test_a_perfectly_calibrated_model_has_zero_ece() -> None:
    confidence = np.array([0.55] * 20 + [0.95] * 20)
    correct = np.array([True] * 11 + [False] * 9 + [True] * 19 + [False])
    result = reliability(confidence, correct, bins=10)
    assert result["ece"] == pytest.approx(0.0, abs=1e-12)
    assert sum(b["count"] for b in result["bins"]) == 40
