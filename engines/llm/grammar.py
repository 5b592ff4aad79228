"""Constrained output: a request's GBNF grammar or JSON schema turned into a ``llama_cpp.LlamaGrammar``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engines.base import EngineError, ErrorKind


def build_grammar(params: Mapping[str, Any]) -> Any:
    """``grammar`` (GBNF text), ``json_schema`` (a schema object) or ``json`` (any JSON value); else None."""
    grammar, schema, any_json = params.get("grammar"), params.get("json_schema"), params.get("json")
    if grammar is None and schema is None and not any_json:
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        if grammar is not None:
            if not isinstance(grammar, str) or not grammar.strip():
                raise EngineError(ErrorKind.BAD_INPUT, "grammar must be GBNF text")
            return LlamaGrammar.from_string(grammar, verbose=False)
        if schema is not None:
            if not isinstance(schema, Mapping):
                raise EngineError(ErrorKind.BAD_INPUT, "json_schema must be a JSON schema object")
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    except EngineError:
        raise
    except Exception as exc:  # the converter and the GBNF parser raise plain ValueErrors and friends
        raise EngineError(ErrorKind.BAD_INPUT, f"the grammar could not be built: {exc}") from exc
