"""Logits to probabilities and top-k labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.vision.types import TopLabel


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Softmax of logits (float64); outputs that already are probabilities pass through."""
    values = np.asarray(outputs, dtype=np.float64)
    if values.ndim != 2:
        values = values.reshape(values.shape[0], -1)
    if values.size and values.min() >= 0.0 and np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        return values
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def top_k_indices(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores per row, best first (ties broken by lower index)."""
    k = max(1, min(k, probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")
    return np.asarray(order[:, :k])


def top_k(probs_row: np.ndarray, k: int, labels: Sequence[str]) -> list[TopLabel]:
    """The k best classes of one image as ``{index, label, prob}`` rows."""
    indices = top_k_indices(probs_row[None, :], k)[0]
    return [TopLabel(index=int(i), label=labels[int(i)], prob=float(probs_row[int(i)])) for i in indices]
