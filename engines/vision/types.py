"""The vision engine's contract: what its ops take and give (plain dicts on the wire, typed here)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class TopLabel(TypedDict):
    """One of an image's best labels."""

    label: str
    index: int
    prob: float


class ClassifyParams(TypedDict, total=False):
    """``classify`` parameters."""

    paths: list[str]
    path: str
    topk: int
    batch: int
    recursive: bool
    fast_decode: bool


class ClassifyRow(TypedDict):
    """One image of a ``classify`` run (a partial): ``top`` when it was classified, ``error`` when not."""

    index: int
    path: str
    ok: bool
    top: NotRequired[list[TopLabel]]
    times_ms: NotRequired[dict[str, float]]
    latency_ms: NotRequired[float]
    batch_size: NotRequired[int]
    size: NotRequired[list[int]]
    mode: NotRequired[str]
    notes: NotRequired[list[str]]
    kind: NotRequired[str]
    error: NotRequired[str]


class EvalRow(TypedDict):
    """One image of an ``eval`` run (a partial)."""

    index: int
    path: str
    ok: bool
    # "class" (the true class) is a keyword in Python: read it as row["class"].
    predicted: NotRequired[str]
    prob: NotRequired[float]
    correct: NotRequired[bool]
    kind: NotRequired[str]
    error: NotRequired[str]
