"""One Bayesian-network question (posteriors, MPE or MAP) for the CLI and the GUI alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.recording import RunOutcome
    from app.service import ModelService


@dataclass(frozen=True)
class BayesQuestion:
    """The engine op and its parameters."""

    op: str  # query | mpe | map
    params: Mapping[str, Any] = field(default_factory=dict)


def evidence_params(evidence: Mapping[str, str] | str | None = None,
                    soft: Mapping[str, Sequence[float]] | str | None = None) -> dict[str, Any]:
    """The engine's ``evidence`` / ``soft_evidence`` parameters (text as typed, or mappings)."""
    params: dict[str, Any] = {}
    if evidence:
        params["evidence"] = evidence if isinstance(evidence, str) else dict(evidence)
    if soft:
        params["soft_evidence"] = soft if isinstance(soft, str) else {k: list(v) for k, v in soft.items()}
    return params


def posterior_question(evidence: Mapping[str, str] | str | None = None,
                       soft: Mapping[str, Sequence[float]] | str | None = None, *, targets: str | Sequence[str] = "all",
                       method: str = "auto", samples: int | None = None, burn_in: int | None = None,
                       seed: int | None = None) -> BayesQuestion:
    """Posterior marginals of ``targets`` given the evidence."""
    params = {**evidence_params(evidence, soft), "targets": targets if isinstance(targets, str) else list(targets),
              "method": method}
    for key, value in (("samples", samples), ("burn_in", burn_in), ("seed", seed)):
        if value is not None:
            params[key] = value
    return BayesQuestion("query", params)


def explanation_question(evidence: Mapping[str, str] | str | None = None,
                         soft: Mapping[str, Sequence[float]] | str | None = None, *,
                         map_targets: str | Sequence[str] | None = None) -> BayesQuestion:
    """The most probable explanation (MPE), or MAP over ``map_targets`` when they are named."""
    params = evidence_params(evidence, soft)
    if map_targets and map_targets != "all":
        params["targets"] = map_targets if isinstance(map_targets, str) else list(map_targets)
        return BayesQuestion("map", params)
    return BayesQuestion("mpe", params)


def ask(service: ModelService, network: str, question: BayesQuestion, *, device: str = "cpu",
        options: Mapping[str, Any] | None = None, record: bool = True, model_id: str | None = None) -> RunOutcome:
    """Ask ``network`` the question through the model service (loading it when needed); blocking."""
    ticket = service.submit("bayes", network, question.op, dict(question.params), device=device, options=options,
                            record=record, model_id=model_id)
    try:
        return ticket.outcome()
    except BaseException:
        ticket.cancel()
        ticket.outcome(60)
        raise
