"""The evaluation tab shows AUC, ECE and top-k, per-class areas and the reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pytestqt.qtbot import QtBot

from engines.vision.prob_scores import ProbabilityLog, probability_scores
from ui.classify.eval import EvalPanel


def _result() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    log = ProbabilityLog([0, 1, 2])
    for index in range(60):
        target = index % 3
        logits = rng.normal(0, 1, 3)
        logits[target] += 1.5  # a model that is right more often than not
        probs = np.exp(logits) / np.exp(logits).sum()
        log.add(probs, target)
    names = ["cat", "dog", "fox"]
    per_class = [{"class": n, "model_label": n, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 20.0}
                 for n in names]
    return {"top1": float(np.mean(log.correct)), "top5": 1.0, "macro": {"f1": 0.5}, "evaluated": 60,
            "classes": names, "per_class": per_class, "probability": probability_scores(log, names),
            "confusion": {"labels": names, "columns": [*names, "other"], "matrix": [[20, 0, 0, 0]] * 3}}


def test_eval_panel_shows_probability_scores(qtbot: QtBot, tmp_path: Path) -> None:
    panel = EvalPanel()
    qtbot.addWidget(panel)
    result = _result()
    panel.show_result(result)
    scores = result["probability"]
    text = panel.summary.text()
    assert f"AUC-ROC {scores['auc_roc_macro']:.4f}" in text and f"ECE {scores['ece']:.4f}" in text
    assert "top-3 100.0%" in text
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    roc_column = headers.index("AUC-ROC")
    # The table may be sorted by any column: match rows by class name.
    shown = {panel.table.item(r, 0).text(): float(panel.table.item(r, roc_column).text()) for r in range(3)}
    assert shown == {c["class"]: round(c["auc_roc"], 3) for c in scores["auc_per_class"]}
    assert panel.reliability.ece == scores["ece"]
    assert sum(b["count"] for b in panel.reliability.bins) == 60
    panel.resize(900, 600)
    panel.show()
    assert panel.reliability.grab().save(str(tmp_path / "reliability.png"))
    panel.clear()
    assert panel.reliability.bins == []
