"""Calibration inputs for int8: real photos through the model's own preprocessing, with simple variations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from engines.base import EngineError
from engines.vision.decode import decode_image
from engines.vision.files import collect_images
from engines.vision.labels import sample_images
from engines.vision.preprocess import PreprocessConfig, preprocess


def calibration_samples(config: PreprocessConfig, folder: str | Path | None = None,
                        limit: int = 32) -> list[np.ndarray]:
    """Preprocessed inputs from ``folder`` (default: the sample photos), mirrored and re-scaled."""
    paths = collect_images([folder]).images[:limit] if folder else sample_images()
    variants = 1 if len(paths) >= 16 else 4  # few photos: widen the activation ranges seen
    wider = replace(config, resize_size=int(config.resize_size * 1.25))
    samples: list[np.ndarray] = []
    for path in paths:
        try:
            image = decode_image(path).image
        except EngineError:
            continue  # an unreadable calibration image is skipped, not fatal
        samples.append(preprocess(image, config)[0])
        if variants > 1:
            mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            samples.append(preprocess(mirrored, config)[0])
            samples.append(preprocess(image, wider)[0])
            samples.append(preprocess(mirrored, wider)[0])
    return samples
