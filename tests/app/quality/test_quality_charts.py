"""The command line's PNG charts and evaluation text, from real score computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.quality.classify_scores import probability_lines, write_reliability_png
from app.quality.pareto import Point, pareto_front
from app.quality.png_charts import HEIGHT, WIDTH, scatter_png
from engines.vision.prob_scores import ProbabilityLog, probability_scores


def _colours(image: Image.Image) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in rgb) for rgb in np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)}


def test_reliability_png_and_text_from_an_evaluation(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    log = ProbabilityLog([0, 1])
    for index in range(40):
        p = rng.uniform(0.2, 0.9)
        log.add(np.array([p, 1 - p]), index % 2)
    result = {"model": "toy", "folder": "/data/eval", "probability": probability_scores(log, ["a", "b"])}
    lines = "\n".join(probability_lines(result))
    assert f"ECE {result['probability']['ece']:.4f}" in lines and "AUC-ROC (macro, one-vs-rest)" in lines
    path = write_reliability_png(result, tmp_path / "reliability.png")
    with Image.open(path) as image:
        assert image.size == (WIDTH, HEIGHT)
        # Something was drawn besides the white background (bars, axes, text).
        assert len(_colours(image)) > 10


def test_scatter_png_marks_the_front(tmp_path: Path) -> None:
    points = [Point("Q8_0", 100, 0.01), Point("Q4_0", 180, 0.6), Point("Q5_0", 140, 0.05), Point("bad", 90, 0.7)]
    front = pareto_front(points, higher_x=True, higher_y=False)
    path = scatter_png(points, front, tmp_path / "scatter.png", title="speed x quality", x_label="tokens/s",
                       y_label="KL divergence")
    with Image.open(path) as image:
        pixels = _colours(image)
    assert (200, 60, 40) in pixels and (70, 110, 180) in pixels  # front points and dominated points
