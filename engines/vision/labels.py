"""Class names: ImageNet's 1000 labels shipped in resources/labels, or names a model's config gives."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
IMAGENET_LABELS = RESOURCES / "labels" / "imagenet.txt"
SAMPLE_IMAGES = RESOURCES / "images"


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order."""
    names = tuple(line.strip() for line in IMAGENET_LABELS.read_text(encoding="utf-8").splitlines())
    if len(names) != 1000:
        raise RuntimeError(f"{IMAGENET_LABELS} holds {len(names)} names, expected 1000")
    return names


def labels_for(num_classes: int, names: list[str] | None = None) -> list[str]:
    """Names for a model's outputs: its own, ImageNet's for 1000 classes, else ``class N``."""
    if names and len(names) == num_classes:
        return [str(n) for n in names]
    if num_classes == 1000:
        return list(imagenet_labels())
    return [f"class {i}" for i in range(num_classes)]


def sample_images() -> list[Path]:
    """The sample photos shipped with the app (cat, espresso, rocket, astronaut)."""
    return sorted(p for p in SAMPLE_IMAGES.glob("*.jpg") if p.is_file())
