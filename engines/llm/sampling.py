"""Sampling parameters of one request (LM Studio's full set), checked before generation starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from engines.base import EngineError, ErrorKind


@dataclass(frozen=True)
class SamplingParams:
    """How the next token is chosen, and when generation stops."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None  # None: a fresh random seed per request
    max_tokens: int | None = 512  # None or <= 0: until the context is full
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # benchmarks: always generate max_tokens

    def to_dict(self) -> dict[str, Any]:
        """Plain data for results and the history."""
        return {**asdict(self), "stop": list(self.stop)}


_ALIASES = {"temp": "temperature", "n_predict": "max_tokens", "repetition_penalty": "repeat_penalty"}
_FIELDS = set(SamplingParams.__dataclass_fields__)


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise EngineError(ErrorKind.BAD_INPUT, f"{name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise EngineError(ErrorKind.BAD_INPUT, f"{name} must be a number, not {value!r}") from None
    if kind is int and float(value) != number:
        raise EngineError(ErrorKind.BAD_INPUT, f"{name} must be a whole number, not {value!r}")
    return number


def parse_sampling(params: Mapping[str, Any]) -> SamplingParams:
    """Pick the sampling fields out of request params (other keys are ignored) and validate them."""
    values: dict[str, Any] = {}
    for key, value in params.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS or value is None:
            continue
        if name == "stop":
            stops = [value] if isinstance(value, str) else value
            if not isinstance(stops, Sequence) or not all(isinstance(s, str) and s for s in stops):
                raise EngineError(ErrorKind.BAD_INPUT, "stop must be a string or a list of non-empty strings")
            values[name] = tuple(stops)
        elif name == "ignore_eos":
            values[name] = bool(value)
        elif name in ("top_k", "seed", "max_tokens"):
            values[name] = _number(name, value, int)
        else:
            values[name] = _number(name, value, float)
    sampling = SamplingParams(**values)
    _check(sampling)
    return sampling


def _check(s: SamplingParams) -> None:
    problems = []
    if not 0.0 <= s.temperature <= 5.0:
        problems.append(f"temperature {s.temperature} is outside 0..5")
    if not 0.0 < s.top_p <= 1.0:
        problems.append(f"top_p {s.top_p} is outside (0, 1]")
    if s.top_k < 0:
        problems.append(f"top_k {s.top_k} is negative (0 turns it off)")
    if not 0.0 <= s.min_p <= 1.0:
        problems.append(f"min_p {s.min_p} is outside 0..1")
    if not 0.0 < s.repeat_penalty <= 10.0:
        problems.append(f"repeat_penalty {s.repeat_penalty} is outside (0, 10]")
    if s.seed is not None and not 0 <= s.seed < 2**32:
        problems.append(f"seed {s.seed} is outside 0..2^32-1")
    if problems:
        raise EngineError(ErrorKind.BAD_INPUT, "bad sampling settings: " + "; ".join(problems))
