"""Export to Markdown / CSV / JSON / SQLite and import back, as another machine's results would arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.compare.export import to_markdown, write_export
from app.compare.importing import ImportFailed, import_file, read_export
from app.compare.store import CompareStore
from app.compare.table import build_tables
from app.history import History
from tests.app.compare.compare_support import SmallRun

# The session-wide SMALL comparison (LLM with a derived quantization and its quality, vision, Bayes) runs in
# the first of these tests to need it: its set-up counts in that test's time.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def other_history(tmp_path: Path) -> CompareStore:
    """A second machine's history, empty."""
    history = History(tmp_path / "other.db")
    yield CompareStore(history)
    history.close()


@pytest.mark.parametrize("suffix", [".json", ".csv", ".db"])
def test_an_export_imports_back_with_every_row_flag_and_sample(small_run: SmallRun, other_history: CompareStore,
                                                              tmp_path: Path, suffix: str) -> None:
    original = small_run.session
    path = write_export([original], tmp_path / f"results{suffix}", source=small_run.history)
    (imported,) = import_file(other_history, path)
    assert imported.source == f"import: results{suffix}" and imported.imported
    assert imported.meta["original_id"] == original.id and imported.id != original.id
    assert imported.machine == original.machine and imported.settings == original.settings
    assert len(imported.results) == len(original.results)
    for mine, theirs in zip(original.results, imported.results, strict=True):
        assert (theirs.workload, theirs.device, theirs.backend, theirs.precision, theirs.variant) == \
            (mine.workload, mine.device, mine.backend, mine.precision, mine.variant)
        assert theirs.metrics == mine.metrics  # exact floats, CSV included
        assert [f.to_dict() for f in theirs.flags] == [f.to_dict() for f in mine.flags]
        assert theirs.samples == mine.samples
    # Importing the same file again does not duplicate it.
    assert [s.id for s in import_file(other_history, path)] == [imported.id]
    assert len(other_history.sessions()) == 1


def test_the_sqlite_export_carries_the_recorded_runs_and_samples(small_run: SmallRun, tmp_path: Path) -> None:
    path = write_export([small_run.session], tmp_path / "all.sqlite", source=small_run.history)
    history = History(path)
    try:
        runs = history.runs(compare_id=small_run.session.id)
        assert len(runs) == len(small_run.history.runs(compare_id=small_run.session.id))
        vision = next(r for r in small_run.session.results if r.workload == "vision")
        assert history.samples(vision.run_id) == small_run.history.samples(vision.run_id)
    finally:
        history.close()


def test_markdown_shows_the_machine_the_tables_and_why_energy_is_missing(small_run: SmallRun) -> None:
    text = to_markdown([small_run.session])
    assert small_run.session.machine_label in text
    for title in ("### LLM", "### Vision", "### Bayesian network"):
        assert title in text
    assert "| device | quant | threads / offload | pp t/s | tg t/s |" in text
    if not small_run.session.meta["power"]["cpu"]["available"]:
        assert "| n/a |" in text and "energy n/a on cpu:" in text
    assert "MBU = model bytes x tg t/s /" in text


def test_an_imported_session_sits_beside_the_local_one_with_a_machine_column(
        small_run: SmallRun, other_history: CompareStore, tmp_path: Path) -> None:
    path = write_export([small_run.session], tmp_path / "theirs.json")
    data = json.loads(path.read_text())
    data["sessions"][0]["machine"].update(id="0123456789ab", label="Other box · 8 cores · 64 GiB · RTX 4090")
    path.write_text(json.dumps(data))
    (theirs,) = import_file(CompareStore(small_run.history), path)
    try:
        tables = build_tables([small_run.session, theirs])
        vision = next(t for t in tables if t.workload == "vision")
        assert vision.headers[0] == "machine"
        machines = [cells[0] for cells in vision.rows]
        assert any("Other box" in m and "(imported)" in m for m in machines)
        assert any(small_run.session.machine_label in m for m in machines)
    finally:
        CompareStore(small_run.history).delete_session(theirs.id)


def test_files_that_are_not_exports_are_refused_with_the_reason(tmp_path: Path) -> None:
    cases = {
        "notes.json": ('{"hello": 1}', "not a workbench comparison export"),
        "broken.json": ("{not json", "not valid JSON"),
        "table.csv": ("a,b\n1,2\n", "not a comparison CSV export"),
        "report.md": ("# Hardware comparison\n", "Markdown report"),
    }
    for name, (content, words) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(ImportFailed, match=words):
            read_export(path)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "workbench-compare", "version": 99, "sessions": []}))
    with pytest.raises(ImportFailed, match="newer workbench"):
        read_export(future)
    plain = History(tmp_path / "plain.db")
    plain.close()
    # A workbench database always has the tables; an unrelated SQLite file does not.
    import sqlite3

    conn = sqlite3.connect(tmp_path / "unrelated.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ImportFailed, match="without comparison tables"):
        read_export(tmp_path / "unrelated.db")
    with pytest.raises(ImportFailed, match="no file"):
        read_export(tmp_path / "missing.json")
