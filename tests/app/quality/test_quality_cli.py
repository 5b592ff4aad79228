"""``workbench quality llm`` and ``workbench quality answers`` end to end (real workers, model, history)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.history import History
from app.quality.llm_quality import DEFAULT_TEXT

MODEL = "smollm2-135m-instruct"


@pytest.fixture
def short_text(tmp_path: Path) -> Path:
    """The first chapters of the shipped text: enough tokens for two 128-token chunks, quick to tokenize."""
    path = tmp_path / "genesis-start.txt"
    path.write_text(DEFAULT_TEXT.read_text(encoding="utf-8")[:6000], encoding="utf-8")
    return path


def _quality_runs() -> list[dict[str, object]]:
    history = History()
    try:
        return [r for r in history.runs(engine="llm") if r["op"] == "quality"]
    finally:
        history.close()


def test_quality_llm_scores_a_model_and_caches_the_reference(short_text: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    args = ["quality", "llm", "-m", MODEL, "--reference", MODEL, "--text", str(short_text), "--ctx", "128",
            "--chunks", "2", "--threads", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "KL divergence mean  0.000000" in out  # the model against itself
    assert "same top token      100.00 %" in out
    assert "reference logits    written" in out
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    result = data["result"]
    assert result["tokens_scored"] == 2 * (128 - 1 - 64)
    assert result["kld_mean"] == pytest.approx(0.0, abs=1e-6)
    assert Path(data["reference_cache"]).is_file()
    runs = _quality_runs()
    # The reference was scored once (its logits cached), the model twice.
    assert len(runs) == 3
    assert sum("quality-reference" in (r.get("tags") or []) for r in runs) == 1
    assert runs[0]["metrics"]["ppl"] == pytest.approx(result["ppl"])


def test_quality_llm_refuses_bad_settings_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quality", "llm", "-m", MODEL, "--ctx", "8"]) == 2
    assert "--ctx must be at least 16" in capsys.readouterr().err
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("In the beginning God created the heaven and the earth.\n", encoding="utf-8")
    assert main(["quality", "llm", "-m", MODEL, "--text", str(tiny), "--ctx", "128", "--threads", "1"]) == 1
    assert "needs at least 256" in capsys.readouterr().err
    assert main(["quality", "llm", "-m", "no-such-model"]) == 1
    assert "no file or known model" in capsys.readouterr().err


def test_quality_answers_scores_greedy_answers_and_labels_the_judge(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quality", "answers", "-m", MODEL, "--judge", MODEL, "--limit", "2", "--max-tokens", "24",
                 "--threads", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["items"]) == 2
    assert all(item["answer"].strip() for item in data["items"])
    assert 0.0 <= data["scores"]["rouge_l"] <= 100.0
    assert data["judge"]["kind"] == "opinion of a language model, not a measurement"
    assert data["judge"]["graded"] + data["judge"]["no_grade"] == 2
    history = History()
    try:
        run = history.get_run(data["run_id"])
    finally:
        history.close()
    assert run["op"] == "answers" and run["status"] == "ok"
    assert run["metrics"]["bleu"] == pytest.approx(data["scores"]["bleu"])
    # Greedy and seeded: asking again gives the same answers.
    assert main(["quality", "answers", "-m", MODEL, "--limit", "2", "--max-tokens", "24", "--threads", "1",
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [i["answer"] for i in again["items"]] == [i["answer"] for i in data["items"]]
