"""Which files to classify: explicit files as given, folders walked recursively for image files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engines.vision.decode import IMAGE_SUFFIXES


def is_image_name(path: Path) -> bool:
    """True for a visible file whose suffix an image format uses."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


@dataclass
class Collected:
    """The images found, and what was not usable (path -> reason)."""

    images: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, message)
    skipped_files: int = 0  # non-image files inside walked folders


def collect_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = True) -> Collected:
    """Expand files and folders into image paths, in a stable order; empty or missing inputs are noted."""
    found = Collected()
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists():
            found.problems.append((str(path), "not_found", f"{path}: no such file or folder"))
            continue
        if path.is_file():
            if path not in seen:
                seen.add(path)
                found.images.append(path)
            continue
        walker = path.rglob("*") if recursive else path.glob("*")
        before = len(found.images)
        for item in sorted(walker):
            if any(part.startswith(".") for part in item.relative_to(path).parts) or not item.is_file():
                continue
            if not is_image_name(item):
                found.skipped_files += 1
            elif item not in seen:
                seen.add(item)
                found.images.append(item)
        if len(found.images) == before:
            found.problems.append((str(path), "bad_input", f"{path}: folder contains no images"))
    return found
