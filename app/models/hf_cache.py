"""The standard Hugging Face cache layout (``$HF_HOME/hub``): blobs/, snapshots/<commit>/, refs/.

Files downloaded here are shared with every other tool that uses huggingface_hub.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from app.models.errors import ModelError, Reason
from app.models.safe_names import check_repo_id, check_revision, join_inside

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_ETAG_RE = re.compile(r"^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$")


def default_cache_dir() -> Path:
    """``HF_HUB_CACHE`` (``$HF_HOME/hub`` by default), as huggingface_hub resolves it."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(cache_dir: Path, repo_id: str) -> Path:
    """``models--owner--name`` inside the cache."""
    check_repo_id(repo_id)
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


def check_commit(commit: str) -> str:
    """A full 40-hex commit id as the server sent it, or a clear error."""
    if not _COMMIT_RE.match(commit):
        raise ModelError(Reason.SERVER, f"the Hub sent an odd commit id {commit[:80]!r}")
    return commit


def check_etag(etag: str) -> str:
    """A blob id (git SHA-1 or LFS SHA-256) safe to use as a file name."""
    if not _ETAG_RE.match(etag):
        raise ModelError(Reason.SERVER, f"the Hub sent an odd ETag {etag[:80]!r}")
    return etag.lower()


def blob_path(storage: Path, etag: str) -> Path:
    """Where the bytes of blob ``etag`` live."""
    return storage / "blobs" / check_etag(etag)


def pointer_path(storage: Path, commit: str, filename: str) -> Path:
    """``snapshots/<commit>/<filename>``, checked to stay inside the snapshot."""
    return join_inside(storage / "snapshots" / check_commit(commit), filename)


def link_pointer(blob: Path, pointer: Path) -> None:
    """Point the snapshot entry at the blob: a relative symlink, else a hard link, else a copy.

    The new entry is made under a unique name and renamed over the old one, so the entry is never missing
    and two processes linking the same file at once cannot trip over each other.
    """
    pointer.parent.mkdir(parents=True, exist_ok=True)
    temporary = pointer.with_name(f".{pointer.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            os.symlink(os.path.relpath(blob, pointer.parent), temporary)
        except OSError:
            try:
                os.link(blob, temporary)
            except OSError:
                shutil.copyfile(blob, temporary)
        os.replace(temporary, pointer)
    finally:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()


def write_ref(storage: Path, revision: str, commit: str) -> None:
    """Remember which commit a branch or tag pointed to (nothing to do for a commit id)."""
    if revision == commit:
        return
    check_revision(revision)
    ref = join_inside(storage / "refs", revision)
    ref.parent.mkdir(parents=True, exist_ok=True)
    temporary = ref.with_name(f".{ref.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_text(commit)
    os.replace(temporary, ref)


def remove_snapshot_file(pointer: Path, keep_blobs: set[Path] | None = None) -> int:
    """Delete a snapshot entry and its blob unless another snapshot still uses it; returns bytes freed."""
    freed = 0
    blob = pointer.resolve() if pointer.is_symlink() else None
    storage = _storage_of(pointer)
    if pointer.is_symlink() or pointer.exists():
        if not pointer.is_symlink():
            freed += pointer.stat().st_size
        pointer.unlink()
    if (blob is not None and blob.exists() and storage is not None and blob not in (keep_blobs or set())
            and not _blob_referenced(storage, blob)):
        freed += blob.stat().st_size
        blob.unlink()
    _prune_empty(pointer.parent, storage / "snapshots" if storage else None)
    return freed


def _storage_of(pointer: Path) -> Path | None:
    for parent in pointer.parents:
        if parent.name == "snapshots":
            return parent.parent
    return None


def _blob_referenced(storage: Path, blob: Path) -> bool:
    snapshots = storage / "snapshots"
    return any(entry.is_symlink() and entry.resolve() == blob for entry in snapshots.rglob("*"))


def _prune_empty(folder: Path, stop: Path | None) -> None:
    while stop is not None and folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
