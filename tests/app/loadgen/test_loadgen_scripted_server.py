"""The scripted server speaks the OpenAI streaming protocol as the official client reads it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.loadgen.scripted_server import ScriptedServer

openai = pytest.importorskip("openai")


@pytest.mark.timeout(30)
def test_the_official_client_reads_completions_and_chat_streams(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.002, gap_s=0.001, tokens=5, api_key="k")
    client = openai.OpenAI(base_url=server.url, api_key="k", max_retries=0)
    try:
        chunks = list(client.completions.create(model="scripted", prompt="a b c", max_tokens=5, stream=True,
                                                stream_options={"include_usage": True}))
        assert "".join(c.choices[0].text for c in chunks if c.choices) == " w0 w1 w2 w3 w4"
        assert chunks[-1].usage is not None
        assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 5)
        chat = list(client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}],
                                                   max_tokens=5, stream=True))
        assert chat[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chat) == " w0 w1 w2 w3 w4"
        assert [m.id for m in client.models.list()] == ["scripted"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0).models.list()
    finally:
        client.close()
