"""Labelled-folder evaluation: the ImageFolder layout, class mapping, top-k accuracy, confusion, P/R/F1."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.vision.files import is_image_name


@dataclass
class LabelledFolder:
    """Images of an ImageFolder tree (one sub-folder per class), with each image's model class index."""

    root: Path
    classes: list[str]  # sub-folder names, sorted
    class_to_model: list[int]  # model output index of each sub-folder
    paths: list[Path] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)  # model output index of each image
    mapping: str = ""  # how folders were matched to model outputs, shown to the user


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def scan_labelled_folder(root: str | Path, model_labels: Sequence[str]) -> LabelledFolder:
    """Find the class folders and match them to model outputs by name, index, or sorted order."""
    root = Path(root)
    if not root.is_dir():
        raise EngineError(ErrorKind.NOT_FOUND if not root.exists() else ErrorKind.BAD_INPUT,
                          f"{root}: not a folder (eval needs one sub-folder per class)")
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                        key=lambda d: d.name)
    if not class_dirs:
        raise EngineError(ErrorKind.BAD_INPUT, f"{root}: no class sub-folders (expected the ImageFolder "
                                               "layout: FOLDER/<class name>/<image>)")
    classes = [d.name for d in class_dirs]
    class_to_model, mapping = _match_classes(classes, model_labels)
    found = LabelledFolder(root, classes, class_to_model, mapping=mapping)
    for index, folder in enumerate(class_dirs):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and is_image_name(path):
                found.paths.append(path)
                found.targets.append(class_to_model[index])
    if not found.paths:
        raise EngineError(ErrorKind.BAD_INPUT, f"{root}: the class folders hold no images")
    return found


def _match_classes(classes: list[str], labels: Sequence[str]) -> tuple[list[int], str]:
    by_name: dict[str, int] = {}
    for index, label in enumerate(labels):
        # ImageNet names list synonyms ("tabby, tabby cat"): each synonym names the class.
        for part in [label, *label.split(",")]:
            by_name.setdefault(_norm(part), index)
    named = [by_name.get(_norm(c)) for c in classes]
    if all(n is not None for n in named):
        return [int(n) for n in named if n is not None], "folder names matched to the model's class names"
    if all(c.isdigit() and int(c) < len(labels) for c in classes):
        return [int(c) for c in classes], "folder names read as class indexes"
    if len(classes) == len(labels):
        return list(range(len(classes))), "sorted folder order taken as the model's class order"
    missing = [c for c, n in zip(classes, named, strict=True) if n is None][:5]
    raise EngineError(ErrorKind.BAD_INPUT,
                      f"cannot match the {len(classes)} class folders to the model's {len(labels)} classes "
                      f"(no class named {', '.join(repr(m) for m in missing)}); name the folders after the "
                      "model's classes or by class index")


def confusion_matrix(targets: Sequence[int], predictions: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """Counts[true class][predicted class] over the evaluated classes, plus an 'other' column."""
    position = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
    for true, pred in zip(targets, predictions, strict=True):
        matrix[position[true], position.get(pred, len(classes))] += 1
    return matrix


def per_class_scores(matrix: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of each class from a confusion matrix (last column: other)."""
    n = matrix.shape[0]
    scores = []
    for i in range(n):
        tp = float(matrix[i, i])
        predicted = float(matrix[:, i].sum())
        support = float(matrix[i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append({"precision": precision, "recall": recall, "f1": f1, "support": support})
    return scores


def summarise(folder: LabelledFolder, targets: Sequence[int], predictions: Sequence[int],
              top1: Sequence[bool], top5: Sequence[bool], model_labels: Sequence[str]) -> dict[str, Any]:
    """The evaluation result: accuracies, confusion matrix and per-class table, as plain data."""
    matrix = confusion_matrix(targets, predictions, folder.class_to_model)
    scores = per_class_scores(matrix)
    evaluated = len(targets)
    per_class = [{"class": name, "model_index": idx, "model_label": model_labels[idx], **score}
                 for name, idx, score in zip(folder.classes, folder.class_to_model, scores, strict=True)]
    macro = {key: float(np.mean([s[key] for s in scores])) if scores else 0.0
             for key in ("precision", "recall", "f1")}
    return {
        "evaluated": evaluated,
        "top1": float(np.mean(top1)) if evaluated else 0.0,
        "top5": float(np.mean(top5)) if evaluated else 0.0,
        "classes": folder.classes,
        "mapping": folder.mapping,
        "confusion": {"labels": folder.classes, "columns": [*folder.classes, "other"],
                      "matrix": matrix.tolist()},
        "per_class": per_class,
        "macro": macro,
    }
