"""Runs inside a private mount namespace (``unshare``): mounts a small tmpfs, plays one disk-space scenario
with real ``workbench models pull`` processes, and prints what happened as JSON for the test to judge.

Usage: small_fs_driver.py MOUNT_DIR SIZE SCENARIO CONFIG_JSON. The tmpfs disappears with the namespace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def main() -> int:
    mount_dir, size, scenario, config_text = sys.argv[1:5]
    config: dict[str, Any] = json.loads(config_text)
    Path(mount_dir).mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "workbench-test", mount_dir], check=True)
    result = SCENARIOS[scenario](Path(mount_dir), config)
    print(json.dumps(result))
    return 0


def _env(config: dict[str, Any], hf_home: Path) -> dict[str, str]:
    env = {**os.environ, "WORKBENCH_HOME": config["home"], "HF_HOME": str(hf_home),
           "HF_ENDPOINT": config["endpoint"], "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)
    return env


def _pull(config: dict[str, Any], hf_home: Path, repo: str, file: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "models", "pull", repo, file], cwd=ROOT,
                            env=_env(config, hf_home), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    return {"rc": process.returncode, "stdout": out, "stderr": err}


def _partial(hf_home: Path) -> Path | None:
    return next(iter(sorted(hf_home.glob("hub/models--*/blobs/*.incomplete"))), None)


def _wait_for_partial(hf_home: Path, at_least: int, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        partial = _partial(hf_home)
        if partial is not None and partial.exists() and partial.stat().st_size >= at_least:
            return partial
        time.sleep(0.005)
    raise RuntimeError(f"the pull never wrote {at_least} bytes: {_finish(process)}")


def _fill(path: Path, leave: int) -> None:
    # Write until only ``leave`` bytes are free (0: until the disk refuses more).
    with path.open("wb", buffering=0) as handle:
        block = b"\xaa" * (1024 * 1024)
        while True:
            room = shutil.disk_usage(path.parent).free - leave
            if room <= 0:
                return
            try:
                handle.write(block[: min(len(block), room)])
            except OSError:
                if len(block) == 4096:
                    return
                block = block[:4096]


def fill_during_pull(mount: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Another program fills the disk while a pull writes; then space is freed and the pull resumed."""
    hf_home = mount / "hf"
    process = _pull(config, hf_home, config["repo"], config["file"])
    partial = _wait_for_partial(hf_home, config["fill_at"], process)
    _fill(mount / "filler.bin", config["leave"])
    free_when_filled = shutil.disk_usage(mount).free
    first = _finish(process)
    kept = _partial(hf_home)
    prefix = kept.read_bytes() if kept is not None else b""
    (mount / "filler.bin").unlink()
    second = _finish(_pull(config, hf_home, config["repo"], config["file"]))
    return {"first": first, "second": second, "partial_name": partial.name, "kept_size": len(prefix),
            "kept_sha256": hashlib.sha256(prefix).hexdigest(), "free_when_filled": free_when_filled}


def two_pulls(mount: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Two pulls into different caches on one small disk: the second counts the first's remaining bytes."""
    first_home, second_home = mount / "hf-one", mount / "hf-two"
    first = _pull(config, first_home, config["repos"][0], config["files"][0])
    _wait_for_partial(first_home, 1, first)
    second = _finish(_pull(config, second_home, config["repos"][1], config["files"][1]))
    first_running = first.poll() is None
    first_result = _finish(first)
    return {"first": first_result, "second": second, "first_running_when_second_done": first_running,
            "free_after": shutil.disk_usage(mount).free}


SCENARIOS = {"fill_during_pull": fill_during_pull, "two_pulls": two_pulls}

if __name__ == "__main__":
    sys.exit(main())
