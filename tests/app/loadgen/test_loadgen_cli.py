"""``workbench bench serve`` end to end against the scripted server: outputs, history, errors, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.history import History
from app.loadgen.record import ENGINE
from app.loadgen.scripted_server import ScriptedServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(60)
def test_sweep_writes_json_csv_md_and_records_runs(scripted: Callable[..., ScriptedServer], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = scripted(ttft_s=0.005, gap_s=0.002, tokens=4)
    out = tmp_path / "serve.json"
    code = main(["bench", "serve", "--base-url", server.url, "--model", "scripted", "--num-prompts", "4",
                 "--input-len", "10", "--output-len", "4", "--max-concurrency", "1,2", "--goodput",
                 "ttft:1000,e2el:5000", "--json", str(out), "--detailed", "--csv", str(tmp_path / "s.csv")])
    assert code == 0
    lines = out.read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["max_concurrency"], second["max_concurrency"]) == (1, 2)
    assert first["completed"] == 4 and first["output_lens"] == [4] * 4  # --detailed keeps the arrays
    assert first["request_goodput"] == pytest.approx(first["request_throughput"])
    assert (tmp_path / "s.csv").read_text().splitlines()[1].startswith("c=1,ok,4,0,")
    captured = capsys.readouterr()
    assert captured.out.startswith("| point | ok/failed |")  # Markdown on stdout when nothing else takes it
    assert "[2/2 concurrency 2] 4/4 done, 0 failed" in captured.err
    history = History()
    try:
        recorded = {r["id"] for r in history.runs(engine=ENGINE)}
    finally:
        history.close()
    assert {line.split()[-1] for line in captured.err.splitlines() if line.startswith("recorded ")} <= recorded


def test_bad_arguments_are_refused_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "serve", "--base-url", "http://127.0.0.1:9", "--model", "m"]
    assert main([*base, "--dataset", "sharegpt"]) == 2
    assert "--dataset is random, text, or sharegpt FILE" in capsys.readouterr().err
    assert main([*base, "--goodput", "ttft=5"]) == 2
    assert "NAME:MILLISECONDS" in capsys.readouterr().err
    assert main([*base, "--max-concurrency", "0"]) == 2
    assert "--max-concurrency must be at least 1" in capsys.readouterr().err
    assert main([*base, "--tokenizer", "server", "--no-history"]) == 2
    assert "/tokenize does not answer" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_failed_requests_give_exit_1_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "serve", "--base-url", "http://127.0.0.1:9", "--model", "m", "--dataset", "text",
                 "--tokenizer", "none", "--num-prompts", "2", "--no-history", "--md", "-"])
    assert code == 1
    captured = capsys.readouterr()
    assert "| unlimited (failed) | 0/2 |" in captured.out
    assert "warning (unlimited): every request failed; the first error: ConnectError" in captured.out
    code = main(["bench", "serve", "--base-url", "http://127.0.0.1:9", "--model", "m", "--dataset", "text",
                 "--tokenizer", "none", "--num-prompts", "2", "--no-history", "--json", "-"])
    assert code == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["failed"] == 2  # stdout is the JSON alone; the warnings go to stderr
    assert "warning [unlimited]: every request failed; the first error: ConnectError" in captured.err


@pytest.mark.timeout(60)
def test_ctrl_c_cancels_and_keeps_partial_results(scripted: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    server = scripted(ttft_s=0.01, gap_s=0.02, tokens=10)  # 0.2 s per request
    out = tmp_path / "partial.json"
    child = subprocess.Popen(
        [sys.executable, "-u", "-m", "app.cli", "bench", "serve", "--base-url", server.url, "--model", "scripted",
         "--num-prompts", "30", "--max-concurrency", "1", "--output-len", "10", "--json", str(out),
         "--no-history"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 20
        while len(server.served) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.served) >= 3
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert "cancelling: keeping the requests that finished" in err
    data = json.loads(out.read_text())
    assert data["workbench_cancelled"] is True
    assert 2 <= data["completed"] < 30 and data["failed"] == 0
