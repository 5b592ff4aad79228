"""Scores of the predicted probabilities, not just the top answer: AUC-ROC, AUC-PR, calibration, top-k.

One-vs-rest over the evaluated classes (a folder of 10 ImageNet classes is scored on those 10 columns of
the model's 1000): per class AUC-ROC (``roc_auc_score``) and AUC-PR (``average_precision_score``), and their
unweighted mean over the classes that have both positives and negatives (scikit-learn's ``average="macro"``).
Calibration is the top-1 confidence against top-1 correctness over all the model's outputs: expected
calibration error over equal-width confidence bins (the bin's share of images x |accuracy - mean
confidence|, summed), the maximum calibration error, and the per-bin figures a reliability diagram draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_BINS = 15
TOP_KS = (1, 2, 3, 5, 10)


@dataclass
class ProbabilityLog:
    """What each evaluated image leaves for the scores: small per image, whatever the model's class count."""

    classes: list[int]  # model output index of each evaluated class
    columns: list[npt.NDArray[np.float32]] = field(default_factory=list)  # probs of the evaluated classes
    confidence: list[float] = field(default_factory=list)  # top-1 probability
    correct: list[bool] = field(default_factory=list)  # top-1 == target
    rank: list[int] = field(default_factory=list)  # 0 = the target was the top answer
    targets: list[int] = field(default_factory=list)  # position of the target in ``classes``

    def add(self, probs: npt.NDArray[np.floating[Any]], target: int) -> None:
        """Log one image's probability vector (all model outputs) and its true model class."""
        target_p = probs[target]
        self.columns.append(np.asarray(probs[self.classes], dtype=np.float32))
        top = int(np.argmax(probs))
        self.confidence.append(float(probs[top]))
        self.correct.append(top == target)
        # Ties count against the target, as top_k_accuracy_score does not reward an undecided model.
        self.rank.append(int(np.count_nonzero(probs > target_p)))
        self.targets.append(self.classes.index(target))


def reliability(confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_],
                bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """ECE, MCE and per-bin (range, count, mean confidence, accuracy) over equal-width bins of (0, 1]."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins (lo, hi]: a confidence of exactly 1.0 lands in the last bin, as in the usual ECE.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    ece = mce = 0.0
    total = confidence.size
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        row: dict[str, Any] = {"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count,
                               "confidence": None, "accuracy": None}
        if count:
            conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
            row.update(confidence=conf, accuracy=acc)
            gap = abs(acc - conf)
            ece += count / total * gap
            mce = max(mce, gap)
        rows.append(row)
    return {"ece": ece, "mce": mce, "bins": rows}


def probability_scores(log: ProbabilityLog, class_names: Sequence[str], bins: int = DEFAULT_BINS,
                       ) -> dict[str, Any]:
    """AUC-ROC / AUC-PR per class and macro, ECE with the reliability bins, top-k accuracies."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = np.stack(log.columns).astype(np.float64)
    targets = np.asarray(log.targets)
    per_class = []
    for position, name in enumerate(class_names):
        positive = targets == position
        entry: dict[str, Any] = {"class": name, "positives": int(positive.sum()), "auc_roc": None, "auc_pr": None}
        if 0 < entry["positives"] < targets.size:  # both kinds present, or the areas are undefined
            entry["auc_roc"] = float(roc_auc_score(positive, scores[:, position]))
            entry["auc_pr"] = float(average_precision_score(positive, scores[:, position]))
        per_class.append(entry)
    defined = [e for e in per_class if e["auc_roc"] is not None]
    ranks = np.asarray(log.rank)
    calibration = reliability(np.asarray(log.confidence, dtype=np.float64), np.asarray(log.correct), bins)
    return {
        "auc_roc_macro": float(np.mean([e["auc_roc"] for e in defined])) if defined else None,
        "auc_pr_macro": float(np.mean([e["auc_pr"] for e in defined])) if defined else None,
        "auc_per_class": per_class,
        "auc_classes_scored": len(defined),
        "ece": calibration["ece"], "mce": calibration["mce"],
        "reliability": {"bins": calibration["bins"], "n_bins": bins,
                        "basis": "top-1 confidence vs top-1 correctness, equal-width bins"},
        "topk_accuracy": {str(k): float((ranks < k).mean()) for k in TOP_KS},
    }
