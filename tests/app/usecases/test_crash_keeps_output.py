"""kill -9 of a worker mid-request keeps what it streamed: the answer so far, the images already classified."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from app.conversations import ConversationStore
from app.history import History
from app.messages import Partial
from app.recording import RunStatus
from app.service import ModelService

RESOURCES = Path(__file__).parents[3] / "resources" / "images"


def _worker_of(parent: psutil.Process, timeout: float = 120) -> psutil.Process:
    # A spawned worker runs multiprocessing's spawn_main; the resource tracker does not.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no worker under {parent.pid}")


def test_cli_chat_keeps_the_answer_so_far_when_its_worker_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    cli = subprocess.Popen([sys.executable, "-m", "app.cli", "chat", "-m", "smollm2-135m-instruct", "--threads", "1",
                            "--ctx", "1024", "--temp", "0", "--max-tokens", "400",
                            "Write a long story about a lighthouse keeper, in many paragraphs."],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cli.stdout is not None
    worker = _worker_of(psutil.Process(cli.pid))
    seen = ""
    deadline = time.monotonic() + 240
    while len(seen) < 40 and time.monotonic() < deadline:
        seen += cli.stdout.read(1)
    assert len(seen) >= 40, "the answer did not start streaming"
    os.kill(worker.pid, signal.SIGKILL)
    _out, err = cli.communicate(timeout=120)
    assert cli.returncode == 1
    assert "SIGKILL" in err and "the answer so far is kept" in err

    history = History(tmp_path / "workbench.db")
    try:
        store = ConversationStore(history)
        conversation = store.conversations()[0]
        answer = store.path(conversation.id)[-1]
        assert answer.role == "assistant" and answer.content.startswith(seen.strip()[:20])
        assert answer.stats["stop_reason"] == "crashed" and answer.stats["interrupted"] == "interrupted: worker crashed"
        run = history.get_run(answer.stats["run_id"])
        assert run["status"] == "crashed" and run["result"]["text"].startswith(seen.strip()[:20])
    finally:
        history.close()


def test_a_killed_classify_run_keeps_the_images_it_finished(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    samples = sorted(p for p in RESOURCES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i in range(60):
        for sample in samples:
            os.symlink(sample, folder / f"{i:03d}-{sample.name}")
    history = History(tmp_path / "h.db")
    try:
        with ModelService(history) as service:
            ticket = service.submit("vision", "efficientnet-lite0", "classify", {"paths": [str(folder)], "batch": 1},
                                    options={"backend": "onnxruntime"}, threads=1)
            done = 0
            for event in ticket.events(timeout=300):
                if isinstance(event, Partial):
                    done += 1
                    if done == 5:
                        pid = service.client("vision", "efficientnet-lite0").pid  # type: ignore[union-attr]
                        os.kill(pid, signal.SIGKILL)
            outcome = ticket.outcome()
        assert outcome.status == RunStatus.CRASHED
        run = history.get_run(outcome.run_id)
        assert run["status"] == "crashed" and run["result"]["interrupted"] == "worker crashed"
        assert len(run["result"]["items"]) >= 5 and run["metrics"]["items_done"] >= 5
        assert all(item["ok"] and item["top"] for item in run["result"]["items"][:5])
    finally:
        history.close()
