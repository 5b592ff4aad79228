"""llama-perplexity's arithmetic, checked against direct numpy computations on random logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.llm.quality_stats import Tally, kl_top_k, percentile, perplexity_of, score_logits


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.fixture
def logits() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 3, size=(40, 300)).astype(np.float32)


def test_log_probs_and_top_k_match_a_direct_log_softmax(logits: np.ndarray) -> None:
    scored = score_logits(logits)
    direct = _log_softmax(logits)
    targets = np.arange(40) % 300
    assert np.allclose(scored.log_probs_at(targets), direct[np.arange(40), targets], atol=1e-5)
    ids, lps = scored.top_k(5)
    assert np.array_equal(ids, np.argsort(-direct, axis=1)[:, :5])
    assert np.allclose(lps, np.sort(direct, axis=1)[:, ::-1][:, :5], atol=1e-5)
    assert np.array_equal(scored.argmax, logits.argmax(axis=1))


def test_kl_over_the_whole_vocabulary_is_the_exact_kl(logits: np.ndarray) -> None:
    other = logits + np.random.default_rng(1).normal(0, 0.5, size=logits.shape).astype(np.float32)
    ref_ids, ref_lps = score_logits(logits).top_k(300)  # k = vocabulary: nothing left over
    p, q = _log_softmax(logits), _log_softmax(other)
    exact = (np.exp(p) * (p - q)).sum(axis=1)
    assert np.allclose(kl_top_k(score_logits(other), ref_ids, ref_lps), exact, atol=1e-5)
    # With few tokens kept the bucketed KL is a lower bound of the exact one (grouping loses information).
    ids8, lps8 = score_logits(logits).top_k(8)
    assert np.all(kl_top_k(score_logits(other), ids8, lps8) <= exact + 1e-6)
    assert np.all(kl_top_k(score_logits(logits), ids8, lps8) < 1e-6)


def test_perplexity_and_uncertainty_follow_llama_perplexity(logits: np.ndarray) -> None:
    nll = -_log_softmax(logits)[np.arange(40), np.arange(40)]
    ppl, unc = perplexity_of(nll)
    mean, var = nll.mean(), (nll ** 2).mean() - nll.mean() ** 2
    assert ppl == pytest.approx(math.exp(mean))
    assert unc == pytest.approx(math.sqrt(var / 39) * math.exp(mean))
    values = np.sort(np.random.default_rng(2).random(101))
    assert percentile(values, 0.99) == pytest.approx(np.percentile(values, 99))
    assert percentile(values, 0.5) == pytest.approx(np.median(values))


def test_a_model_against_itself_has_no_divergence(logits: np.ndarray) -> None:
    scored = score_logits(logits)
    ids, lps = scored.top_k(16)
    tally = Tally()
    targets = np.arange(40) % 300
    nll = -scored.log_probs_at(targets)
    tally.nll.append(nll)
    tally.nll_base.append(nll.copy())
    tally.kld.append(kl_top_k(scored, ids, lps))
    tally.same_top.append(scored.argmax == ids[:, 0])
    summary = tally.summary()
    assert summary["kld_mean"] == pytest.approx(0.0, abs=1e-6)
    assert summary["delta_ppl"] == pytest.approx(0.0, abs=1e-9)
    assert summary["same_top_pct"] == 100.0
    assert summary["ppl"] == pytest.approx(summary["ppl_base"])
