"""The Bayesian-network engine's contract: what its ops take and give (plain dicts, typed here)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

Posteriors = dict[str, dict[str, float]]  # node -> state -> probability


class QueryParams(TypedDict, total=False):
    """``query`` parameters: evidence (``A=x,B=y`` text or a mapping), soft evidence, targets, method."""

    evidence: str | dict[str, str]
    soft_evidence: str | dict[str, list[float]]
    targets: str | list[str]
    method: str  # auto | jt | ve | lw | gibbs | ...
    samples: int
    burn_in: int
    seed: int


class QueryResult(TypedDict):
    """Posterior marginals and the probability of the evidence."""

    network: str
    method: str
    evidence: str
    posteriors: Posteriors
    p_evidence: float
    metrics: dict[str, float]
    log_p_evidence: NotRequired[float]
    # Sampling methods only: the sample counts and each posterior's standard error.
    samples: NotRequired[int]
    effective_samples: NotRequired[float]
    max_stderr: NotRequired[float]
    stderr: NotRequired[Posteriors]
    warnings: NotRequired[list[str]]
