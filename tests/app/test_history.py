"""The SQLite history: schema, migrations from an older file, runs, samples, orphans."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from app.history import MIGRATIONS, SCHEMA_VERSION, History, SchemaTooNew


def test_new_file_has_current_schema_in_wal_mode(history_path: str) -> None:
    history = History(history_path)
    try:
        assert history.schema_version == SCHEMA_VERSION
        assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"runs", "samples", "conversations", "messages", "models", "compare_sessions"} <= set(
            history.db.table_names())
    finally:
        history.close()


def test_run_row_written_at_start_and_updated_at_end(history_path: str) -> None:
    history = History(history_path)
    try:
        run_id = history.start_run(engine="echo", op="stream", model_id="m", device="cpu", params={"n": 3})
        row = history.get_run(run_id)
        assert row["status"] == "running" and row["ended_at"] is None and row["params"] == {"n": 3}
        history.add_samples(run_id, [("token_ms", 0.1, 5.0), ("token_ms", 0.2, 6.0), ("rss_mb", 0.1, 100)])
        history.finish_run(run_id, "ok", metrics={"tokens": 3}, result={"text": "abc"})
        row = history.get_run(run_id)
        assert row["status"] == "ok" and row["metrics"] == {"tokens": 3} and row["result"] == {"text": "abc"}
        assert history.samples(run_id) == {"token_ms": [(0.1, 5.0), (0.2, 6.0)], "rss_mb": [(0.1, 100.0)]}
        assert [r["id"] for r in history.runs(engine="echo")] == [run_id]
        assert history.runs(engine="other") == []
        with pytest.raises(ValueError):
            history.finish_run(run_id, "weird")
    finally:
        history.close()


def test_migrates_a_first_release_file_keeping_its_runs(history_path: str) -> None:
    # Build the file exactly as release 1 left it: only the first migration applied.
    import sqlite_utils

    db = sqlite_utils.Database(history_path)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs (id, engine, op, status, started_at, ended_at, metrics) "
               "VALUES ('old', 'llm', 'chat', 'ok', 1.0, 2.0, '{\"ttft_ms\": 200}')")
    db.conn.commit()
    db.conn.close()
    history = History(history_path)
    try:
        assert history.schema_version == SCHEMA_VERSION
        old = history.get_run("old")
        assert old["metrics"] == {"ttft_ms": 200} and old["model_path"] is None
        new = history.start_run(engine="llm", op="chat", model_path="/x.gguf")
        assert history.get_run(new)["model_path"] == "/x.gguf"
    finally:
        history.close()


def test_refuses_a_file_from_a_newer_version(history_path: str) -> None:
    conn = sqlite3.connect(history_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="update the workbench"):
        History(history_path)


def test_run_left_running_by_a_dead_app_is_marked_crashed(history_path: str) -> None:
    code = ("import sys, os; from app.history import History; h = History(sys.argv[1]); "
            "h.start_run(engine='llm', op='chat'); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, history_path], check=True)
    history = History(history_path)
    try:
        (row,) = history.runs()
        assert row["status"] == "crashed"
        assert "stopped before the run ended" in row["error"]
    finally:
        history.close()
