"""The engines' typed contracts, for front ends that must not import engine internals (``ui``)."""

from __future__ import annotations

from engines.bayes.types import Posteriors, QueryParams, QueryResult
from engines.llm.types import ChatMessage, ChatParams, ChatPartial, ChatResult
from engines.vision.types import ClassifyParams, ClassifyRow, EvalRow, TopLabel

__all__ = ["ChatMessage", "ChatParams", "ChatPartial", "ChatResult", "ClassifyParams", "ClassifyRow", "EvalRow",
           "Posteriors", "QueryParams", "QueryResult", "TopLabel"]
