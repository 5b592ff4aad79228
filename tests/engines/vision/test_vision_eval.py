"""A real labelled evaluation: a CNN trained for seconds on scikit-learn's digits, evaluated as an ImageFolder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vision_helpers import RecordingContext, digits_reference_logits, loaded_engine

from engines.base import EngineError, ErrorKind
from engines.vision.evaluation import confusion_matrix, per_class_scores, scan_labelled_folder


@pytest.fixture(scope="module")
def digits_engine(digits: dict[str, Path]) -> Any:
    with loaded_engine(str(digits["onnx"]), "cpu", {"threads": 1, "calibration": str(digits["train"])}) as engine:
        yield engine


def independent_accuracy(digits: dict[str, Path]) -> tuple[float, np.ndarray]:
    """Accuracy and confusion computed without the engine: onnxruntime on arrays made here."""
    targets, logits = digits_reference_logits(digits)
    predictions = logits.argmax(axis=1)
    matrix = np.zeros((10, 10), dtype=int)
    for true, pred in zip(targets, predictions, strict=True):
        matrix[true, pred] += 1
    return float((predictions == targets).mean()), matrix


def test_eval_reports_the_real_accuracy_and_confusion(digits: dict[str, Path], digits_engine: Any,
                                                      tmp_path: Path) -> None:
    ctx = RecordingContext()
    result = digits_engine.run("eval", {"folder": str(digits["test"]), "report": str(tmp_path / "report")}, ctx)
    accuracy, matrix = independent_accuracy(digits)
    assert result["top1"] == pytest.approx(accuracy)
    assert result["top1"] > 0.85  # a few seconds of training reaches ~95% on held-out digits
    assert result["top5"] >= result["top1"]
    assert result["mapping"] == "folder names matched to the model's class names"
    assert np.array_equal(np.array(result["confusion"]["matrix"])[:, :10], matrix)
    images = len(list(digits["test"].rglob("*.png")))
    assert sum(map(sum, result["confusion"]["matrix"])) == result["evaluated"] == images
    assert [row["class"] for row in result["per_class"]] == [str(i) for i in range(10)]
    for row in result["per_class"]:
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0 and row["support"] > 0
    assert result["metrics"]["top1_accuracy"] == result["top1"]
    rows = {(r["backend"], r["precision"]) for r in result["agreement"]["rows"]}
    assert ("onnxruntime", "fp32") in rows
    files = [Path(p) for p in result["report_files"]]
    assert sorted(p.suffix for p in files) == [".html", ".json", ".md"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["top1"] == result["top1"] and saved["confusion"] == result["confusion"]
    markdown = (tmp_path / "report.md").read_text()
    assert "top-1 accuracy" in markdown and "Confusion matrix" in markdown
    assert "<table>" in (tmp_path / "report.html").read_text()
    assert len(ctx.partials) == result["evaluated"]


def test_eval_with_int8_agreement_and_an_unreadable_image(digits: dict[str, Path], digits_engine: Any,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "test"
    shutil.copytree(digits["test"], folder)
    (folder / "3" / "broken.png").write_bytes(b"not a png")
    result = digits_engine.run("eval", {"folder": str(folder), "agreement": "all"}, RecordingContext())
    assert result["failed"] == 1 and "broken.png" in result["errors"][0]["error"]
    assert result["evaluated"] == len(list(digits["test"].rglob("*.png")))
    int8 = next(r for r in result["agreement"]["rows"] if r["precision"] == "int8")
    assert "error" not in int8, int8
    assert int8["top1_agreement"] > 0.8  # calibrated on the training digits


def test_labelled_folder_problems(tmp_path: Path, digits_engine: Any) -> None:
    ctx = RecordingContext()
    with pytest.raises(EngineError) as empty:
        digits_engine.run("eval", {"folder": str(tmp_path)}, ctx)
    assert "no class sub-folders" in empty.value.message
    (tmp_path / "zebra").mkdir()
    (tmp_path / "okapi").mkdir()
    with pytest.raises(EngineError) as unmatched:
        digits_engine.run("eval", {"folder": str(tmp_path)}, ctx)
    assert unmatched.value.kind is ErrorKind.BAD_INPUT and "zebra" in unmatched.value.message


def test_metric_helpers() -> None:
    matrix = confusion_matrix([1, 1, 0], [1, 0, 2], [0, 1])
    assert matrix.tolist() == [[0, 0, 1], [1, 1, 0]]  # the last column counts predictions outside the folders
    scores = per_class_scores(matrix)
    assert scores[1] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2.0}


def test_imagenet_folder_names_match_label_synonyms(tmp_path: Path) -> None:
    from engines.vision.labels import imagenet_labels

    for name in ("tabby", "Egyptian_cat", "espresso"):
        (tmp_path / name).mkdir()
        shutil.copy(Path(__file__).resolve().parents[3] / "resources" / "images" / "coffee.jpg",
                    tmp_path / name / "x.jpg")
    labelled = scan_labelled_folder(tmp_path, imagenet_labels())
    labels = imagenet_labels()
    assert [labels[i] for i in labelled.class_to_model] == ["Egyptian cat", "espresso", "tabby"]
