"""Four clients streaming at once get the answers they get one at a time (greedy, same seed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
from api_server_support import MODEL, start, stop

PROMPTS = ["Name a fruit.", "What is 2 + 2?", "Say something about the sea.", "Give me a colour."]


def ask(base_url: str, prompt: str) -> str:
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=300)
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                            max_tokens=24, temperature=0, seed=11, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_four_clients_at_once_match_one_at_a_time(tmp_path: Path) -> None:
    # --parallel 4: the LLM slot decodes 4 requests together once the engine batches; until then the
    # server says so and they take turns. Either way, concurrency must not change an answer.
    running = start(tmp_path, parallel=4)
    try:
        alone = [ask(running.base_url, p) for p in PROMPTS]
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda p: ask(running.base_url, p), PROMPTS))
        assert all(alone)
        assert together == alone
        log = running.server.activity.log()
        assert len(log) == 8 and all(r.status == 200 for r in log)
        starts = sorted(r.started for r in log[4:])
        assert starts[-1] - starts[0] < min(r.e2el_ms or 0 for r in log[4:]) / 1000  # they were sent together
    finally:
        stop(running)
