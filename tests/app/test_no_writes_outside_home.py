"""The workbench writes only into its data folder and the Hugging Face cache (issue 17, item 7): ONNX
Runtime's telemetry files (``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``, ``$TMPDIR/.ses``) included.
Real CLI runs of every engine with a throwaway HOME and TMPDIR, which must stay empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COMMANDS = (
    ("devices",),
    ("classify", str(REPO / "resources" / "images" / "chelsea.jpg"), "--backend", "onnxruntime"),
    ("chat", "-m", "smollm2-135m-instruct", "Say hi", "--max-tokens", "4"),
    ("bayes", "query", "asia", "--evidence", "smoke=yes", "--target", "lung"),
)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_cli_runs_write_nothing_outside_the_data_folder_and_hf_cache(tmp_path: Path) -> None:
    home, tmp, data, hf = (tmp_path / name for name in ("home", "tmp", "data", "hf"))
    for folder in (home, tmp, data, hf):
        folder.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "WORKBENCH_HOME": str(data), "HF_HOME": str(hf),
                "XDG_CACHE_HOME": str(home / ".cache")})
    for command in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "app.cli", *command], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=600)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert _files_under(home) == [] and _files_under(tmp) == [], (command, _files_under(home),
                                                                      _files_under(tmp))
    assert (data / "workbench.db").is_file()  # the runs went where they belong


def test_onnxruntime_imported_through_the_engine_helper_writes_no_telemetry(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    env.update({"HOME": str(home), "TMPDIR": str(tmp)})
    code = ("from engines.vision.ort_telemetry import import_onnxruntime; ort = import_onnxruntime(); "
            "print(ort.get_available_providers())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0 and "CPUExecutionProvider" in done.stdout, done.stderr
    assert _files_under(home) == [] and _files_under(tmp) == []
