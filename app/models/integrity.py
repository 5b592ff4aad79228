"""Is a registered model still whole on disk? Missing files, changed sizes, a failed checksum."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.models.errors import ModelError
from app.models.local_files import sha256_of, split_parts
from app.models.records import ModelRecord
from app.text_table import human_bytes


@dataclass(frozen=True)
class Health:
    """``status`` is ok, missing or damaged; ``problem`` says what is wrong."""

    status: str
    problem: str = ""


OK = Health("ok")


def model_files(record: ModelRecord) -> list[Path]:
    """Every file of a registered model that belongs to its weights (all parts of a split model)."""
    pointer = Path(record.path)
    names = record.meta.get("files")
    if isinstance(names, list) and names and record.filename:
        # A pull: the snapshot folder is the pointer's path minus the repository file name.
        snapshot = pointer.parents[len(Path(record.filename).parts) - 1]
        suffix = Path(record.filename).suffix
        return [snapshot.joinpath(*Path(name).parts) for name in names if str(name).endswith(suffix)]
    try:
        return split_parts(pointer) or [pointer]
    except ModelError:
        return [pointer]  # a missing part is reported below as a missing file


def check_record(record: ModelRecord, *, deep: bool = False,
                 on_progress: Callable[[int, int], None] | None = None) -> Health:
    """The model's health: cheap checks (files there, sizes as registered), and with ``deep`` its SHA-256."""
    if record.source == "package" or not record.path:
        return OK
    files = model_files(record)
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        return Health("missing", f"not on disk: {', '.join(missing)}")
    damaged = record.meta.get("damaged")
    if damaged:
        return Health("damaged", str(damaged))
    size = sum(f.stat().st_size for f in files)
    if record.size_bytes is not None and size != record.size_bytes:
        return Health("damaged", f"{human_bytes(size)} on disk, {human_bytes(record.size_bytes)} when "
                                 "registered")
    if deep and record.sha256:
        digest = sha256_of(files[0], on_progress=on_progress)
        if digest != record.sha256:
            return Health("damaged", f"SHA-256 {digest}, registered {record.sha256}")
    return OK


def repair_hint(record: ModelRecord) -> str:
    """What to run to fix a damaged model."""
    if record.source == "hub" and record.repo and record.filename:
        return f"workbench models pull {record.id} --repair"
    return f"replace {record.path}, or unregister it: workbench models rm {record.id}"
