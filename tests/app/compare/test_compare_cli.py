"""``workbench compare`` end to end: run, export, list, show, import, and the errors a user can make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main


def test_a_small_bayes_comparison_runs_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bayes.json"
    md = tmp_path / "bayes.md"
    code = main(["compare", "--workload", "bayes", "--devices", "cpu", "--methods", "jt,ve", "-r", "2",
                 "--warmup", "1", "--json", str(out), "--md", str(md)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[1/2] bayes cpu numpy float64 jt ..." in captured.err and f"wrote {out}" in captured.err
    assert "Bayesian network (all posterior marginals)" in captured.out and "query ms (median)" in captured.out
    data = json.loads(out.read_text())
    (session,) = data["sessions"]
    assert [r["variant"] for r in session["results"]] == ["jt", "ve"]
    assert all(len(r["samples"]["query_ms"]) == 2 for r in session["results"])
    assert "| cpu | numpy | jt |" in md.read_text()

    assert main(["compare", "--list"]) == 0
    listing = capsys.readouterr().out
    assert session["id"][:12] in listing and "bayes" in listing

    assert main(["compare", "--show", session["id"][:8], "--csv", "-"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.startswith("session_id,machine_id,") and csv_text.count("\n") == 3

    # The same export seen as another machine's: shown beside the latest local comparison.
    data["sessions"][0]["machine"].update(id="feedfacecafe", label="Laptop · 4 cores · 16 GiB · no GPU")
    other = tmp_path / "laptop.json"
    other.write_text(json.dumps(data))
    assert main(["compare", "--import", str(other)]) == 0
    shown = capsys.readouterr().out
    assert "Laptop · 4 cores" in shown and "(imported)" in shown and "machine" in shown.splitlines()[2]


def test_the_plan_is_printed_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--plan", "--devices", "cpu", "--threads", "1", "--quantize", "q4_0",
                 "--workload", "llm,vision", "--precisions", "fp32"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert "llm cpu llama.cpp 1 thread" in lines and "llm cpu llama.cpp Q4_0 1 thread" in lines
    assert "vision cpu torch fp32" in lines and "vision cpu onnxruntime fp32" in lines
    assert not any("int8" in line for line in lines)


@pytest.mark.parametrize(("argv", "words"), [
    (["compare", "--workload", "speech"], "unknown workload speech"),
    (["compare", "--model", "x.gguf"], "--model needs one --workload"),
    (["compare", "--workload", "llm", "--devices", "cuda:7", "--plan"], "nothing to run"),
    (["compare", "--show", "nosuchsession"], "no stored comparison"),
    (["compare", "--import", "/nonexistent/file.json"], "no file"),
])
def test_mistakes_get_a_clear_message(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert words in capsys.readouterr().err
