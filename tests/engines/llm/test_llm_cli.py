"""``workbench chat`` and ``workbench bench llm`` end to end (real worker, real model, real history)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.conversations import ConversationStore
from app.history import History


def test_chat_one_prompt_streams_then_prints_stats(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chat", "-m", "smollm2-135m-instruct", "--temp", "0", "--max-tokens", "8", "--ctx", "512",
                 "--system", "Answer briefly.", "What is 2+2?"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip(), "no answer on stdout"
    stats = err.strip().splitlines()[-1]
    for part in ("TTFT", "gen", "tok/s", "prompt", "tokens", "stop: "):
        assert part in stats
    history = History()
    try:
        store = ConversationStore(history)
        latest = store.conversations(limit=1)[0]
        path = store.path(latest.id)
        assert [m.role for m in path] == ["user", "assistant"]
        assert path[1].content.strip() == out.strip()
        assert path[1].stats["gen_tokens_per_s"] > 0 and path[1].run_id
        assert history.get_run(path[1].run_id)["status"] == "ok"
    finally:
        history.close()


def test_chat_bad_model_and_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "-m", "no-such-model", "hi"]) == 2
    assert "known: smollm2-135m-instruct" in capsys.readouterr().err
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    assert main(["chat", "-m", str(fake), "hi"]) == 1
    assert "not a GGUF model" in capsys.readouterr().err


def test_bench_llm_json_has_llama_bench_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "llm", "-m", "smollm2-135m-instruct", "-p", "32", "-n", "4", "-r", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    tests = {row["test"]: row for row in data["results"]}
    assert set(tests) == {"pp32", "tg4"}
    for row in tests.values():
        assert len(row["samples_ts"]) == 2 and row["avg_ts"] > 0 and row["n_threads"] >= 1
        assert row["model_type"] == "llama Q4_1" and row["backend"] == "CPU"
    history = History()
    try:
        run = history.get_run(data["run_id"])
        assert run["op"] == "bench" and run["status"] == "ok"
        assert run["metrics"]["tg_tokens_per_s"] == pytest.approx(tests["tg4"]["avg_ts"])
        assert len(history.samples(data["run_id"], "pp_tokens_per_s")["pp_tokens_per_s"]) == 2
    finally:
        history.close()


def test_bench_markdown_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "llm", "-m", "smollm2-135m-instruct", "-p", "16", "-n", "0", "-r", "1", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("model_filename,model_type,model_size")
    assert len(lines) == 2 and ",pp16,16,0," in lines[1]
    assert main(["bench", "llm", "-m", "smollm2-135m-instruct", "-p", "0", "-n", "4", "-r", "1"]) == 0
    table = capsys.readouterr().out
    assert "| model | size | params | backend | threads | test | t/s |" in table and "| tg4 |" in table


def test_interactive_session_branches_and_exports(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    export = tmp_path / "conversation.json"
    script = "\n".join(["My favourite fruit is mango.", "/regen", "/edit My favourite fruit is kiwi.", "/branches",
                        f"/export {export}", "/exit", ""])
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "chat", "-m", "smollm2-135m-instruct", "--temp", "0", "--max-tokens", "6",
         "--ctx", "512"], input=script, capture_output=True, text=True, timeout=240, env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("stop: ") == 3  # the answer, the regenerated one, the answer to the edit
    data = json.loads(export.read_text())
    contents = [m["content"] for m in data["messages"]]
    assert "My favourite fruit is mango." in contents and "My favourite fruit is kiwi." in contents
    assert len(data["messages"]) == 5  # both user versions and three answers: nothing was overwritten
    assert len(data["active_path"]) == 2
    assert "* 3." in done.stderr  # three branches, the last one active


def test_demo_chats_and_prints_stats(capsys: pytest.CaptureFixture[str]) -> None:
    from app.commands.chat import demo

    history = History()
    try:
        demo(history)
    finally:
        history.close()
    out, err = capsys.readouterr()
    assert out.count("assistant> ") == 2 and "Paris" in out
    assert err.count("TTFT") == 2 and "cached" in err  # the second turn reuses the first's KV cache
