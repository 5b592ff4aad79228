"""The JSON settings that travel with a model: timm's ``config.json`` or a sidecar ``<model>.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.base import EngineError, ErrorKind

_PREPROCESS_KEYS = ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation")


@dataclass
class ModelConfig:
    """What a config file says about a model (any field may be absent)."""

    path: Path | None = None
    architecture: str | None = None
    tag: str | None = None
    num_classes: int | None = None
    label_names: list[str] | None = None
    pretrained_cfg: dict[str, Any] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)


def find_config(weights: Path) -> Path | None:
    """``<stem>.json`` beside a weights file, else ``config.json`` in its folder."""
    for candidate in (weights.with_suffix(".json"), weights.parent / "config.json"):
        if candidate.is_file() and candidate != weights:
            return candidate
    return None


def read_config(path: Path | None) -> ModelConfig:
    """Parse a timm-style config; an unreadable file is a bad-input error naming it."""
    if path is None:
        return ModelConfig()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: not a valid JSON config ({exc})") from exc
    if not isinstance(data, Mapping):
        raise EngineError(ErrorKind.BAD_INPUT, f"{path.name}: the config must be a JSON object")
    pretrained = data.get("pretrained_cfg")
    pretrained = dict(pretrained) if isinstance(pretrained, Mapping) else \
        {k: data[k] for k in _PREPROCESS_KEYS if k in data}
    num_classes = data.get("num_classes", pretrained.get("num_classes"))
    architecture = data.get("architecture") or data.get("arch")
    args = data.get("model_args")
    return ModelConfig(
        path=path,
        architecture=str(architecture) if architecture else None,
        tag=str(pretrained["tag"]) if pretrained.get("tag") else None,
        num_classes=int(num_classes) if isinstance(num_classes, int | float) else None,
        label_names=_label_names(data),
        pretrained_cfg=pretrained,
        model_args=dict(args) if isinstance(args, Mapping) else {},
    )


def _label_names(data: Mapping[str, Any]) -> list[str] | None:
    names = data.get("label_names")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    id2label = data.get("id2label")
    if isinstance(id2label, Mapping) and id2label:
        try:
            ordered = sorted(((int(k), str(v)) for k, v in id2label.items()), key=lambda kv: kv[0])
        except ValueError:
            return None
        if [k for k, _ in ordered] == list(range(len(ordered))):
            return [v for _, v in ordered]
    return None


def read_labels_file(path: Path) -> list[str]:
    """Class names, one a line."""
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"{path}: cannot read labels ({exc})") from exc
    if not names:
        raise EngineError(ErrorKind.BAD_INPUT, f"{path}: holds no labels")
    return names
