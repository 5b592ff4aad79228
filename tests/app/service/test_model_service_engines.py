"""ModelService with the real engines: an LLM chat and a Bayes query through JIT-loaded slots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.history import History
from app.messages import Partial
from app.service import Loaded, ModelService


@pytest.fixture
def service(history_path: str) -> Iterator[ModelService]:
    history = History(history_path)
    svc = ModelService(history)
    yield svc
    svc.close()
    history.close()


def test_llm_chat_through_the_service(service: ModelService) -> None:
    ticket = service.submit("llm", "smollm2-135m-instruct", "chat",
                            {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8,
                             "temperature": 0.0, "seed": 1}, options={"n_ctx": 512}, threads=1)
    events = list(ticket.events(timeout=300))
    assert any(isinstance(e, Loaded) for e in events)
    outcome = ticket.outcome()
    assert outcome.ok, outcome.error
    streamed = "".join(str(e.data.get("text", "")) for e in events if isinstance(e, Partial))
    assert streamed == outcome.result["text"] and outcome.metrics["gen_tokens"] >= 1
    assert service.history is not None
    assert service.history.get_run(outcome.run_id)["status"] == "ok"


def test_bayes_query_through_the_service(service: ModelService) -> None:
    outcome = service.submit("bayes", "asia", "query", {"evidence": {"smoke": "yes"}}).outcome(120)
    assert outcome.ok, outcome.error
    assert service.slot("bayes", "asia").state == "ready"
