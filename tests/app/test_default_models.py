"""Commands without ``-m``: the last used model of that engine and op, else the spec's starter model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.default_models import default_model, last_used_model, spec_default
from app.discovery import get_spec
from app.history import History
from app.model_refs import resolve_model_ref
from core.paths import database_path


def _run(history: History, op: str, model_id: str, status: str = "ok", engine: str = "llm",
         model_path: str | None = None, compare_id: str | None = None) -> None:
    run_id = history.start_run(engine=engine, op=op, model_id=model_id, model_path=model_path,
                               compare_id=compare_id)
    history.finish_run(run_id, status)


def test_with_no_history_the_spec_default_is_used(history: History) -> None:
    for engine_id in ("llm", "vision", "bayes"):
        assert default_model(engine_id, history=history) == get_spec(engine_id).default_model
    assert spec_default("llm") == "smollm2-135m-instruct"
    assert resolve_model_ref(default_model("llm", "chat", history), "llm").is_file()


def test_the_newest_usable_run_of_that_op_wins(history: History, tmp_path: Path) -> None:
    gguf = resolve_model_ref("smollm2-135m-instruct", "llm")
    _run(history, "chat", "smollm2-135m-instruct")
    # Opened from a file: stored under its file name, found again by its recorded path.
    _run(history, "chat", gguf.name, model_path=str(gguf))
    _run(history, "complete", "gemma3-270m", compare_id="a-comparison")  # a comparison's model: not "used"
    _run(history, "chat", "smollm2-135m-instruct", status="failed")  # may never have loaded
    _run(history, "chat", "deleted.gguf", model_path=str(tmp_path / "deleted.gguf"))  # gone since
    _run(history, "bench", "smollm2-135m-instruct")
    _run(history, "query", "asia", engine="bayes")
    assert default_model("llm", "chat", history) == str(gguf)
    assert default_model("llm", "bench", history) == "smollm2-135m-instruct"
    assert last_used_model("llm", "quantize", history) is None
    assert default_model("bayes", history=history) == "asia"
    assert default_model("vision", history=history) == get_spec("vision").default_model


def test_a_cancelled_chat_still_counts_as_used(history: History) -> None:
    _run(history, "chat", "smollm2-135m-instruct", status="cancelled")
    assert last_used_model("llm", "chat", history) == "smollm2-135m-instruct"


def _workbench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("workbench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    # The source tree under test first, as pytest's own pythonpath has it (a package added since the editable
    # install was made is then found too).
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "WORKBENCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=240)


def _last_chat(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    history = History(database_path())
    try:
        return next(r for r in history.runs(engine="llm") if r["op"] == "chat")
    finally:
        history.close()


def test_chat_without_a_model_answers_with_the_starter_then_the_last_used(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh-home"
    first = _workbench(home, "chat", "hi", "--max-tokens", "8", "--temp", "0")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip(), "no answer"
    assert _last_chat(home, monkeypatch)["model_id"] == get_spec("llm").default_model
    # A model opened by path becomes the default for the next chat.
    gguf = resolve_model_ref(get_spec("llm").default_model, "llm")
    assert _workbench(home, "chat", "-m", str(gguf), "hi", "--max-tokens", "4").returncode == 0
    again = _workbench(home, "chat", "hello", "--max-tokens", "4")
    assert again.returncode == 0, again.stderr
    run = _last_chat(home, monkeypatch)
    assert run["model_path"] == str(gguf) and run["model_id"] == gguf.name


def test_bench_llm_and_classify_without_a_model_use_the_declared_defaults(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh-home"
    bench = _workbench(home, "bench", "llm", "-p", "8", "-n", "4", "-r", "1", "--json")
    assert bench.returncode == 0, bench.stderr
    image = Path(__file__).resolve().parents[2] / "resources" / "images" / "chelsea.jpg"
    classify = _workbench(home, "classify", str(image), "--backend", "onnxruntime", "--topk", "1")
    assert classify.returncode == 0, classify.stderr
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    history = History(database_path())
    try:
        models = {(r["engine"], r["op"]): r["model_id"] for r in history.runs()}
    finally:
        history.close()
    assert models[("llm", "bench")] == get_spec("llm").default_model
    assert models[("vision", "classify")] == get_spec("vision").default_model
