"""``workbench bayes`` through the real worker process, recorded in the history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["bayes", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_query_json_through_the_worker_is_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    from app.history import History

    code, out, _ = run_cli(capsys, "query", "asia", "-e", "xray=yes,dysp=yes", "--soft", "smoke=0.3:0.7",
                           "--target", "lung,bronc", "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result["posteriors"]) == {"lung", "bronc"}
    assert result["method"] == "jt" and 0 < result["p_evidence"] < 1
    history = History()
    try:
        runs = history.runs(engine="bayes", limit=5)
    finally:
        history.close()
    assert runs and runs[0]["op"] == "query" and runs[0]["status"] == "ok"


def test_text_query_mpe_voi_info_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "query", "alarm", "-e", "HRBP=HIGH,BP=LOW", "--target", "LVFAILURE",
                           "--method", "lw", "--samples", "5000", "--seed", "3")
    assert code == 0 and "LVFAILURE" in out and "stderr" in out and "5,000 samples" in out
    code, out, _ = run_cli(capsys, "query", "asia", "-e", "xray=yes", "--mpe")
    assert code == 0 and "MPE:" in out and "lung = " in out
    code, out, _ = run_cli(capsys, "voi", "asia", "--target", "lung", "-e", "xray=yes", "--top", "3")
    assert code == 0 and "expected entropy reduction" in out
    code, out, _ = run_cli(capsys, "info", "alarm", "--nodes")
    assert code == 0 and "largest clique 144 entries" in out and "HYPOVOLEMIA" in out
    code, _, err = run_cli(capsys, "query", "asia", "-e", "either=no,tub=yes")
    assert code == 1 and "impossible" in err
    code, _, err = run_cli(capsys, "query", "asia", "-e", "xray=perhaps")
    assert code == 1 and "no state 'perhaps'" in err
    bad = tmp_path / "bad.bif"
    bad.write_text("network x {\n}\nvariable A {\n  type discrete [ 3 ] { a, b };\n}\n")
    code, _, err = run_cli(capsys, "info", str(bad))
    assert code == 1 and "bad.bif, line 4" in err and "declares 3 states but lists 2" in err


def test_batch_and_convert(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = tmp_path / "evidence.csv"
    rows.write_text("xray,dysp,smoke\nyes,,\nno,yes,\n,,no\n")
    out_csv = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "batch", "asia", str(rows), "--target", "lung", "--out", str(out_csv))
    assert code == 0 and "3 evidence sets" in err
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "row,p_evidence,lung=yes,lung=no" and len(lines) == 4
    target = tmp_path / "asia.bif"
    code, out, _ = run_cli(capsys, "convert", "asia", str(target))
    assert code == 0 and target.exists() and "bif" in out


def test_demo_section_prints_the_alarm_query(capsys: pytest.CaptureFixture[str]) -> None:
    from app.commands.bayes import demo
    from app.history import History

    history = History()
    try:
        demo(history)
    finally:
        history.close()
    out = capsys.readouterr().out
    assert "ALARM: 37 nodes" in out and "LVFAILURE" in out and "P(evidence)" in out and "observe next" in out


def test_networks_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "networks")
    assert code == 0 and "munin" in out and "missing" not in out
