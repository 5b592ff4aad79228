"""`workbench classify` and `workbench eval` end to end: a real worker process, the history, Ctrl-C."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vision_helpers import SAMPLES

from app.history import History
from app.supervisor import InProcessClient

CLI = [sys.executable, "-m", "app.cli"]
ROOT = Path(__file__).resolve().parents[3]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
                          check=False)


def vision_runs(op: str) -> list[dict[str, object]]:
    history = History()
    try:
        return [r for r in history.runs(engine="vision") if r["op"] == op]
    finally:
        history.close()


def test_classify_cli_prints_writes_and_records(tmp_path: Path, child_env: dict[str, str]) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "coffee.jpg", folder / "coffee.jpg")
    shutil.copy(SAMPLES / "chelsea.jpg", folder / "sub" / "cat.jpg")
    (folder / "broken.jpg").write_text("nope")
    before = len(vision_runs("classify"))
    done = run_cli(["classify", str(folder), "--backend", "onnxruntime", "--topk", "3", "--threads", "1",
                    "--json", str(tmp_path / "out.json"), "--csv", str(tmp_path / "out.csv")], child_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "model: efficientnet-lite0" in out and "preprocessing: resize shortest edge to 256 (bicubic)" in out
    assert "coffee.jpg: espresso" in out and "decode" in out and "inference" in out
    assert "broken.jpg: error (bad_input)" in done.stderr
    assert "2 images classified, 1 failed" in out and "p99" in out
    data = json.loads((tmp_path / "out.json").read_text())
    by_name = {Path(r["path"]).name: r for r in data["results"]}
    assert by_name["coffee.jpg"]["top"][0]["label"] == "espresso" and not by_name["broken.jpg"]["ok"]
    assert data["summary"]["metrics"]["images"] == 2
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {Path(r["path"]).name for r in rows} == {"coffee.jpg", "cat.jpg", "broken.jpg"}
    coffee = next(r for r in rows if r["path"].endswith("coffee.jpg"))
    assert coffee["label_1"] == "espresso" and float(coffee["prob_1"]) > 0.8 and float(coffee["inference_ms"]) > 0
    runs = vision_runs("classify")
    assert len(runs) == before + 1
    run = runs[0]
    assert run["status"] == "ok" and run["model_id"] == "efficientnet-lite0"
    assert run["metrics"]["images"] == 2 and run["metrics"]["images_per_s"] > 0
    history = History()
    try:
        assert len(history.samples(str(run["id"]))["latency_ms"]) == 2
    finally:
        history.close()


def test_classify_cli_decode_threads_flag(tmp_path: Path, child_env: dict[str, str]) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    photos = sorted(SAMPLES.glob("*.jpg"))
    for n in range(64):
        shutil.copy(photos[n % len(photos)], folder / f"{n:03d}-{photos[n % len(photos)].name}")
    done = run_cli(["classify", str(folder), "--backend", "onnxruntime", "--threads", "1", "--decoders", "3", "-q",
                    "--json", str(tmp_path / "out.json")], child_env)
    assert done.returncode == 0, done.stderr
    assert "3 decode thread(s) at low priority" in done.stdout
    assert "64 images classified, 0 failed" in done.stdout
    rows = json.loads((tmp_path / "out.json").read_text())["results"]
    espresso = [r for r in rows if r["path"].endswith("coffee.jpg")]
    assert len(espresso) == 16 and all(r["top"][0]["label"] == "espresso" for r in espresso)


def test_eval_cli_writes_reports_and_records(digits: dict[str, Path], tmp_path: Path,
                                             child_env: dict[str, str]) -> None:
    report = tmp_path / "digits-report"
    done = run_cli(["eval", str(digits["test"]), "-m", str(digits["onnx"]), "--report", str(report),
                    "--threads", "1"], child_env)
    assert done.returncode == 0, done.stderr
    assert "top-1 accuracy" in done.stdout and "confusion matrix" in done.stdout
    saved = json.loads(report.with_suffix(".json").read_text())
    assert saved["top1"] > 0.85 and len(saved["per_class"]) == 10
    assert report.with_suffix(".md").exists() and report.with_suffix(".html").exists()
    run = vision_runs("eval")[0]
    assert run["status"] == "ok" and run["metrics"]["top1_accuracy"] == pytest.approx(saved["top1"])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_cancels_and_prints_the_summary_so_far(tmp_path: Path, child_env: dict[str, str]) -> None:
    for n in range(600):
        shutil.copy(SAMPLES / "chelsea.jpg", tmp_path / f"{n:03d}.jpg")
    process = subprocess.Popen([*CLI, "classify", str(tmp_path), "--backend", "onnxruntime", "--batch", "2",
                                "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # unbuffered, so the test sees lines as they are printed, mid-run
                               env={**child_env, "PYTHONUNBUFFERED": "1"}, cwd=ROOT,
                               # like a foreground command in a terminal: a suite started in the background
                               # (`make test &`) would otherwise hand the CLI an ignored SIGINT
                               preexec_fn=_default_sigint)
    assert process.stdout is not None
    try:
        seen = 0
        for line in process.stdout:
            if line.startswith(str(tmp_path)):
                seen += 1
                if seen == 3:
                    break
        assert seen == 3
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, errors
    assert "interrupted: the run was cancelled" in rest
    classified = int(rest.split("interrupted: the run was cancelled after ")[1].split()[0])
    assert 3 <= classified < 600
    assert "images classified" in rest
    deadline = time.monotonic() + 10
    while vision_runs("classify")[0]["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vision_runs("classify")[0]["status"] == "cancelled"


def test_in_process_client() -> None:
    with InProcessClient.for_engine("vision") as client:
        info = client.load("efficientnet-lite0", "cpu", {"backend": "onnxruntime", "threads": 1})
        assert info["backend"] == "onnxruntime"
        result = client.call("classify", {"paths": [str(SAMPLES / "coffee.jpg")], "topk": 1})
        assert result["results"][0]["label"] == "espresso"
        card = client.call("card")
        assert card["parameters"] == 4_652_008 and card["input_size"] == [3, 224, 224]
