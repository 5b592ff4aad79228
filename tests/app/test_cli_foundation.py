"""The foundation commands: devices, engines, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _workbench(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_devices_json_lists_cpu_and_onnxruntime(tmp_path: Path) -> None:
    out = _workbench("devices", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    ids = [d["id"] for d in report["devices"]]
    assert ids[0] == "cpu"
    assert "ort:CPUExecutionProvider:0" in ids
    # ONNX Runtime's Azure provider calls a cloud endpoint: not a device of this machine.
    assert not any(i.startswith("ort:AzureExecutionProvider") for i in ids)
    assert report["cpu"]["physical_cores"] >= 1 and report["cpu"]["ram_bytes"] > 2**30
    assert "avx2" in report["cpu"]["isa"] or report["cpu"]["arch"] != "x86_64"
    assert report["llama_gpu_offload"] in (True, False, None)
    table = _workbench("devices", home=tmp_path)
    assert table.returncode == 0 and "CPUExecutionProvider" in table.stdout and "ISA:" in table.stdout


def test_history_command_formats(tmp_path: Path) -> None:
    from app.history import History

    history = History(tmp_path / "workbench.db")
    run_id = history.start_run(engine="llm", op="chat", model_id="smol", device="cpu")
    history.finish_run(run_id, "ok", metrics={"ttft_ms": 123.0, "gen_tokens_per_s": 30.5})
    other = history.start_run(engine="bayes", op="query", model_id="alarm", device="cpu")
    history.finish_run(other, "failed", error="bad evidence")
    history.close()
    table = _workbench("history", home=tmp_path)
    assert table.returncode == 0 and "ttft_ms=123" in table.stdout and "bad evidence" in table.stdout
    as_json = json.loads(_workbench("history", "--engine", "llm", "--json", home=tmp_path).stdout)
    assert [r["id"] for r in as_json] == [run_id]
    as_csv = _workbench("history", "--limit", "1", "--csv", home=tmp_path).stdout.splitlines()
    assert as_csv[0].startswith("id,started") and len(as_csv) == 2
    one = json.loads(_workbench("history", "--run", run_id, home=tmp_path).stdout)
    assert one["metrics"]["gen_tokens_per_s"] == 30.5
