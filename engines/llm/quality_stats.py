"""The arithmetic of ``llama-perplexity``: per-token log-likelihoods, KL divergence and their uncertainties.

Pure numpy, no llama.cpp: the quality op feeds it the logits of the scored positions chunk by chunk. The
formulas are those of llama.cpp's ``tools/perplexity/perplexity.cpp`` (``perplexity`` for PPL ± its
uncertainty, ``kl_divergence`` for everything measured against a reference), so the figures read the same
as the reference tool's. The one deliberate difference is the reference distribution: llama.cpp stores
every log-probability as 16-bit integers (2 bytes x vocabulary per token); we keep the reference's top-k
log-probabilities plus the probability mass left over (see :mod:`engines.llm.reference_logits`), and the KL
divergence is taken over those k tokens and one "everything else" bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.integer[Any]]


@dataclass(frozen=True)
class ScoredLogits:
    """Log-softmax facts about a block of positions: what the scores and the KL divergence need."""

    shifted: npt.NDArray[np.float32]  # logits minus each row's maximum
    log_sum_exp: npt.NDArray[np.float64]  # log of each row's sum of exp(shifted)
    argmax: npt.NDArray[np.int64]

    def log_probs_at(self, ids: IntArray) -> npt.NDArray[np.float64]:
        """log p(id) per row for ``ids`` of shape (rows,) or (rows, k)."""
        rows = np.arange(self.shifted.shape[0])
        if ids.ndim == 1:
            return self.shifted[rows, ids].astype(np.float64) - self.log_sum_exp
        return self.shifted[rows[:, None], ids].astype(np.float64) - self.log_sum_exp[:, None]

    def top_k(self, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The k most likely token ids per row (most likely first) and their log-probabilities."""
        k = min(k, self.shifted.shape[1])
        part = np.argpartition(self.shifted, -k, axis=1)[:, -k:]
        order = np.argsort(-np.take_along_axis(self.shifted, part, axis=1), axis=1, kind="stable")
        ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
        return ids, self.log_probs_at(ids).astype(np.float32)


def score_logits(logits: npt.NDArray[np.float32]) -> ScoredLogits:
    """Log-softmax of each row, done as llama.cpp does: float exponentials summed in double."""
    maximum = logits.max(axis=1)
    shifted = logits - maximum[:, None]
    sum_exp = np.exp(shifted).sum(axis=1, dtype=np.float64)
    return ScoredLogits(shifted, np.log(sum_exp), logits.argmax(axis=1))


def kl_top_k(scored: ScoredLogits, ref_ids: IntArray, ref_log_probs: FloatArray) -> npt.NDArray[np.float64]:
    """KL(reference || model) per row over the reference's top-k tokens plus one bucket for the rest."""
    ref_lp = ref_log_probs.astype(np.float64)
    model_lp = scored.log_probs_at(ref_ids)
    ref_p = np.exp(ref_lp)
    kl = (ref_p * (ref_lp - model_lp)).sum(axis=1)
    ref_rest = np.clip(1.0 - ref_p.sum(axis=1), 0.0, 1.0)
    model_rest = np.clip(1.0 - np.exp(model_lp).sum(axis=1), 1e-30, 1.0)
    # Below ~1e-7 the remainder is rounding noise of the float32 softmax, not probability mass.
    has_rest = ref_rest > 1e-7
    safe_rest = np.where(has_rest, ref_rest, 1.0)
    kl += np.where(has_rest, ref_rest * (np.log(safe_rest) - np.log(model_rest)), 0.0)
    # A model compared with itself gives tiny negative values from rounding; KL is never below zero.
    return np.maximum(kl, 0.0)


def mean_and_uncertainty(values: FloatArray) -> tuple[float, float]:
    """Mean and its standard error, as llama.cpp's ``mean_and_uncertainty`` (zero error below 11 values)."""
    count = values.size
    if count < 1:
        return 0.0, 0.0
    mean = float(values.sum(dtype=np.float64) / count)
    var = float(np.square(values, dtype=np.float64).sum() / count - mean * mean)
    return mean, (math.sqrt(var / (count - 1)) if var > 0 and count > 10 else 0.0)


def perplexity_of(nll: FloatArray) -> tuple[float, float]:
    """PPL and its uncertainty from per-token negative log-likelihoods (llama.cpp's ``Final estimate``)."""
    count = nll.size
    if count < 2:
        return (math.exp(float(nll.mean())) if count else math.nan), math.nan
    mean = float(nll.sum(dtype=np.float64) / count)
    var = float(np.square(nll, dtype=np.float64).sum() / count - mean * mean)
    ppl = math.exp(mean)
    return ppl, (math.sqrt(var / (count - 1)) * ppl if var > 0 else math.nan)


def percentile(sorted_values: FloatArray, fraction: float) -> float:
    """llama.cpp's percentile: linear interpolation between the two nearest sorted values."""
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    position = fraction * (sorted_values.size - 1)
    low = int(position)
    high = min(low + 1, sorted_values.size - 1)
    weight = position - low
    return float((1 - weight) * sorted_values[low] + weight * sorted_values[high])


def _covariance(a: FloatArray, b: FloatArray) -> float:
    count = a.size
    if count < 10:
        return 0.0
    value = float((a * b).sum(dtype=np.float64) / count - (a.sum() / count) * (b.sum() / count))
    return value / (count - 1)


@dataclass
class Tally:
    """Per-token values gathered chunk by chunk; :meth:`summary` turns them into the reported figures."""

    nll: list[FloatArray] = field(default_factory=list)
    nll_base: list[FloatArray] = field(default_factory=list)
    kld: list[FloatArray] = field(default_factory=list)
    same_top: list[npt.NDArray[np.bool_]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Tokens scored so far."""
        return sum(part.size for part in self.nll)

    def running_ppl(self) -> float:
        """exp(mean NLL) so far, the figure llama-perplexity prints after each chunk."""
        total = sum(float(part.sum(dtype=np.float64)) for part in self.nll)
        return math.exp(total / max(self.count, 1))

    def summary(self) -> dict[str, Any]:
        """PPL ± uncertainty; with a reference also Δ-PPL, the PPL ratio, KL divergence and same-top %."""
        nll = np.concatenate(self.nll) if self.nll else np.zeros(0)
        ppl, ppl_unc = perplexity_of(nll)
        out: dict[str, Any] = {"ppl": ppl, "ppl_uncertainty": ppl_unc, "mean_nll": float(nll.mean()) if nll.size
                               else math.nan, "tokens_scored": int(nll.size)}
        if not self.kld:
            return out
        base = np.concatenate(self.nll_base)
        kld = np.sort(np.concatenate(self.kld))
        same = np.concatenate(self.same_top)
        log_ppl, log_ppl_unc = mean_and_uncertainty(nll)
        log_base, log_base_unc = mean_and_uncertainty(base)
        cov = _covariance(nll, base)
        ppl_q, ppl_b = math.exp(log_ppl), math.exp(log_base)
        ppl_q_unc, ppl_b_unc = ppl_q * log_ppl_unc, ppl_b * log_base_unc
        ratio_log = log_ppl - log_base
        ratio_log_unc = math.sqrt(max(log_ppl_unc ** 2 + log_base_unc ** 2 - 2.0 * cov, 0.0))
        diff_unc = math.sqrt(max(ppl_q_unc ** 2 + ppl_b_unc ** 2 - 2.0 * ppl_q * ppl_b * cov, 0.0))
        kl_mean, kl_unc = mean_and_uncertainty(kld)
        top = float(same.mean())
        out.update({
            "ppl_base": ppl_b, "ppl_base_uncertainty": ppl_b_unc,
            "delta_ppl": ppl_q - ppl_b, "delta_ppl_uncertainty": diff_unc,
            "ln_ppl_ratio": ratio_log, "ln_ppl_ratio_uncertainty": ratio_log_unc,
            "ppl_ratio": math.exp(ratio_log), "ppl_ratio_uncertainty": math.exp(ratio_log) * ratio_log_unc,
            "kld_mean": kl_mean, "kld_uncertainty": kl_unc, "kld_median": percentile(kld, 0.5),
            "kld_p99": percentile(kld, 0.99), "kld_p999": percentile(kld, 0.999), "kld_max": float(kld[-1]),
            "same_top_pct": 100.0 * top,
            "same_top_pct_uncertainty": 100.0 * math.sqrt(top * (1 - top) / max(same.size - 1, 1)),
        })
        return out
