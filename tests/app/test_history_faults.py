"""The history under faults (issue 17, items 2, 3 and 8): damaged files, unusable data folders, concurrent
first starts, a run's PID reused by another process, and run ids as ``history`` prints them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import history_file, process_identity
from app.history import SCHEMA_VERSION, History, HistoryUnavailable
from app.history_open import open_history

REPO = Path(__file__).resolve().parents[2]


def _history_with_runs(path: Path, count: int = 300) -> list[str]:
    history = History(path)
    ids = []
    for index in range(count):
        run_id = history.start_run(engine="bayes", op="query", model_id=f"net{index}", params={"pad": "x" * 200})
        history.finish_run(run_id, "ok", metrics={"query_ms": float(index)})
        ids.append(run_id)
    history.close()  # the last connection checkpoints the WAL into the file
    assert not Path(str(path) + "-wal").exists()
    return ids


def _truncate(path: Path) -> None:
    _history_with_runs(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(96 * 1024))


def _html(path: Path) -> None:
    path.write_text("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found"
                    "</h1><p>The requested URL was not found on this server.</p></body></html>\n" * 40)


@pytest.mark.parametrize("damage", [_truncate, _garbage, _html], ids=["truncated", "garbage", "html"])
def test_a_damaged_file_is_kept_aside_and_a_new_history_started(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "workbench.db"
    damage(path)  # type: ignore[operator]
    original = path.read_bytes()
    notices: list[str] = []
    history = History(path, on_notice=notices.append)
    try:
        assert history.schema_version == SCHEMA_VERSION and history.runs() == []
        run_id = history.start_run(engine="llm", op="chat")
        assert history.get_run(run_id)["status"] == "running"
    finally:
        history.close()
    (kept,) = tmp_path.glob("workbench.corrupt-*.db")
    assert kept.read_bytes() == original  # moved, not rewritten
    assert len(notices) == 1 and "damaged" in notices[0] and kept.name in notices[0]
    # The new file opens cleanly next time: nothing more is said or moved.
    again: list[str] = []
    History(path, on_notice=again.append).close()
    assert again == [] and len(list(tmp_path.glob("workbench.corrupt-*"))) == 1


def test_quick_check_runs_at_start_and_catches_a_damaged_page(tmp_path: Path) -> None:
    # Overwrite the middle of a table's pages: the header still reads as SQLite, only quick_check sees it.
    path = tmp_path / "workbench.db"
    _history_with_runs(path)
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle:middle + 3 * page] = os.urandom(3 * page)
    path.write_bytes(bytes(data))
    notices: list[str] = []
    History(path, on_notice=notices.append).close()
    assert notices and "damaged" in notices[0]
    assert list(tmp_path.glob("workbench.corrupt-*.db"))


def _history_with_samples(path: Path) -> list[str]:
    history = History(path)
    ids = []
    for _ in range(3):
        run_id = history.start_run(engine="llm", op="chat")
        history.add_samples(run_id, [("token_ms", float(t), 1.0) for t in range(20000)])
        history.finish_run(run_id, "ok")
        ids.append(run_id)
    history.close()
    return ids


def test_a_cut_off_big_file_is_caught_by_its_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_file, "FULL_CHECK_MAX_BYTES", 0)  # as if the file were big
    path = tmp_path / "workbench.db"
    _history_with_samples(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 8 * 4096])
    notices: list[str] = []
    History(path, on_notice=notices.append).close()
    assert notices and "cut off" in notices[0]


def test_damage_in_the_samples_of_a_big_file_is_caught_at_the_start_after_it_was_met(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(history_file, "FULL_CHECK_MAX_BYTES", 0)  # as if the file were big
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    path = tmp_path / "workbench.db"
    ids = _history_with_samples(path)
    data = bytearray(path.read_bytes())
    middle = (len(data) // 4096 // 2) * 4096
    data[middle:middle + 4 * 4096] = os.urandom(4 * 4096)  # the time series fill the middle of the file
    path.write_bytes(bytes(data))
    notices: list[str] = []
    history = History(path, on_notice=notices.append)
    try:
        assert notices == []  # the start checks every table but the big time series
        assert len(history.runs()) == 3
        with pytest.raises(sqlite3.DatabaseError) as met:
            [history.samples(run_id) for run_id in ids]  # reading them meets the damage
        assert history_file.is_damage(met.value)
    finally:
        history.close()
    from app.cli import main

    # The command that meets the damage says so in one line and asks for a full check at the next start.
    codes = []
    for run_id in ids:
        codes.append(main(["history", "--run", run_id]))
        if codes[-1]:
            break
    assert codes[-1] == 1
    said = capsys.readouterr().err
    assert "history database is damaged" in said and "Traceback" not in said
    assert (tmp_path / "workbench.db.check").exists()
    History(path, on_notice=notices.append).close()
    assert len(notices) == 1 and "damaged" in notices[0]
    assert not (tmp_path / "workbench.db.check").exists()


def test_a_damaged_wal_goes_aside_with_its_database(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    _garbage(path)
    Path(str(path) + "-wal").write_bytes(b"old wal")
    History(path, on_notice=lambda _: None).close()
    (kept,) = tmp_path.glob("workbench.corrupt-*.db")
    assert Path(str(kept) + "-wal").read_bytes() == b"old wal"


def _workbench(*args: str, home: Path | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


def test_history_command_on_a_garbage_file_says_so_and_continues(tmp_path: Path) -> None:
    _html(tmp_path / "workbench.db")
    out = _workbench("history", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "sqlite3" not in out.stderr
    assert "damaged" in out.stderr and "kept as workbench.corrupt-" in out.stderr
    assert "no runs recorded yet" in out.stdout


def test_workbench_home_pointing_at_a_file_gets_a_clear_message(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "home-is-a-file"
    not_a_folder.write_text("x")
    for args in (("history",), ("history", "--run", "abcdef12"), ("bayes", "query", "asia")):
        out = _workbench(*args, home=not_a_folder)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr, out.stderr
        assert f"WORKBENCH_HOME={not_a_folder}" in out.stderr and "point WORKBENCH_HOME at a folder" in out.stderr


def test_a_history_file_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HistoryUnavailable, match=r"file/workbench.db cannot be opened: File exists"):
        History(blocker / "workbench.db")


def test_open_history_records_in_memory_when_the_file_cannot_be_opened(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    (tmp_path / "workbench.db").mkdir()  # something that is no SQLite file stands where the history goes
    with pytest.raises(HistoryUnavailable):
        History()
    notices: list[str] = []
    history = open_history(on_notice=notices.append)
    try:
        assert history.unrecorded and len(notices) == 1 and "runs will not be recorded" in notices[0]
        run_id = history.start_run(engine="bayes", op="query")
        history.finish_run(run_id, "ok")
        assert history.get_run(run_id)["status"] == "ok"
    finally:
        history.close()
    assert list(tmp_path.iterdir()) == [tmp_path / "workbench.db"]


_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _can_mount_read_only() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", _RO_MOUNT, "/tmp", "true"], capture_output=True,
                           timeout=30, check=False)
    return probe.returncode == 0


@pytest.fixture
def read_only_home(tmp_path: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """A data folder with a history of three runs, and the command prefix that sees it read-only.

    Root ignores file modes, so as root the folder is bind-mounted read-only in a private mount
    namespace (as a read-only mount would be); other users get it with mode 0555.
    """
    home = tmp_path / "home"
    home.mkdir()
    ids = _history_with_runs(home / "workbench.db", count=3)
    if os.geteuid() == 0:
        if not _can_mount_read_only():
            pytest.skip("running as root without unshare/mount to make a read-only folder")
        yield home, ids, ["unshare", "--mount", "sh", "-c", _RO_MOUNT, str(home)]
        return
    home.chmod(0o555)
    try:
        yield home, ids, []
    finally:
        home.chmod(0o755)


def _run_read_only(prefix: list[str], *args: str, home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "WORKBENCH_HOME": str(home), **env}
    return subprocess.run([*prefix, sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, timeout=300)


def test_read_only_data_folder_reads_work_and_runs_say_they_are_not_recorded(
        read_only_home: tuple[Path, list[str], list[str]], tmp_path: Path) -> None:
    home, ids, prefix = read_only_home
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"HOME": str(scratch), "TMPDIR": str(scratch)}
    before = {p.name: p.stat().st_mtime_ns for p in home.iterdir()}

    listed = _run_read_only(prefix, "history", home=home, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr and "read-only" in listed.stderr
    assert ids[0][:8] in listed.stdout and "query_ms=" in listed.stdout
    shown = _run_read_only(prefix, "history", "--run", ids[1][:8], home=home, env=env)
    assert shown.returncode == 0 and f'"id": "{ids[1]}"' in shown.stdout, shown.stderr
    devices = _run_read_only(prefix, "devices", home=home, env=env)
    assert devices.returncode == 0 and "CPUExecutionProvider" in devices.stdout, devices.stderr

    answered = _run_read_only(prefix, "bayes", "query", "asia", "--evidence", "smoke=yes", "--target", "lung",
                              home=home, env=env)
    assert answered.returncode == 0, answered.stderr
    assert "Traceback" not in answered.stderr
    assert "runs will not be recorded" in answered.stderr
    assert "lung" in answered.stdout and "yes" in answered.stdout  # the answer is printed
    assert {p.name: p.stat().st_mtime_ns for p in home.iterdir()} == before


def test_open_history_reads_a_file_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    ids = _history_with_runs(path, count=2)
    history = History(path, read_only=True)
    try:
        assert [r["id"] for r in history.runs()] == ids[::-1]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            history.start_run(engine="llm", op="chat")
    finally:
        history.close()


# --- item 3: concurrent first starts ----------------------------------------------------------------
_STARTER = """
import sys, time
from app.history import History
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
History(sys.argv[1]).close()
"""


def test_concurrent_first_starts_on_a_new_folder_all_succeed(tmp_path: Path) -> None:
    rounds, per_round = 4, 6
    for round_index in range(rounds):
        path = tmp_path / f"round{round_index}" / "workbench.db"
        path.parent.mkdir()
        # Every process imports first, then all open the new file at the same instant.
        start = time.time() + 4.0
        procs = [subprocess.Popen([sys.executable, "-c", _STARTER, str(path), str(start)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(per_round)]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
        for proc in procs:
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        failures = [err for code, err in results if code != 0]
        assert not failures, failures[0]
        history = History(path)
        try:
            assert history.schema_version == SCHEMA_VERSION
            columns = [row[1] for row in history.db.execute("PRAGMA table_info(runs)").fetchall()]
            assert len(columns) == len(set(columns)) and "host_started" in columns
        finally:
            history.close()


# --- item 8: orphaned runs and short ids ----------------------------------------------------------
def test_a_run_whose_pid_was_reused_is_marked_crashed(history_path: str) -> None:
    history = History(history_path)
    reused = history.start_run(engine="llm", op="chat")
    mine = history.start_run(engine="llm", op="chat")
    with history.db.conn:
        # The app that started `reused` died and a later process got its PID: same PID, other start time.
        history.db.execute("UPDATE runs SET host_started = host_started - 1000 WHERE id = ?", [reused])
    history.close()
    history = History(history_path)
    try:
        assert history.get_run(reused)["status"] == "crashed"
        assert history.get_run(mine)["status"] == "running"  # this process is still the one that started it
        assert history.get_run(mine)["host_started"] == process_identity.start_time(os.getpid())
    finally:
        history.close()


def test_history_run_accepts_the_short_id_it_prints(tmp_path: Path) -> None:
    ids = _history_with_runs(tmp_path / "workbench.db", count=2)
    table = _workbench("history", home=tmp_path)
    short = ids[0][:8]
    assert short in table.stdout
    shown = _workbench("history", "--run", short, home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f'"id": "{ids[0]}"' in shown.stdout
    missing = _workbench("history", "--run", "zzzzzzzz", home=tmp_path)
    assert missing.returncode == 1 and "no run 'zzzzzzzz'" in missing.stderr


def test_an_ambiguous_short_id_lists_the_candidates(history_path: str) -> None:
    history = History(history_path)
    try:
        for suffix in ("1", "2"):
            history.db.execute("INSERT INTO runs (id, engine, status, started_at) VALUES (?, 'llm', 'ok', 0)",
                               ["abcd" + suffix * 28])
        with pytest.raises(KeyError, match="matches several runs"):
            history.resolve_run_id("abcd")
        assert history.resolve_run_id("abcd2") == "abcd" + "2" * 28
    finally:
        history.close()
