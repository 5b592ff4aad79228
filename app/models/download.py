"""Verified, resumable downloads of one Hub file into the standard Hugging Face cache.

The partial file is ``blobs/<etag>.incomplete`` (the name older huggingface_hub releases resume from too), so
an interrupted download — a lost connection, a cancel, a killed process — continues where it stopped with an
HTTP Range request. Bytes are hashed as they arrive and checked against the SHA-256 the Hub publishes for LFS
files (the git SHA-1 for small files) before the blob is moved into place.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.models.errors import CachedFileDamaged, ModelError, Reason
from app.models.hf_cache import blob_path, check_commit, link_pointer, pointer_path, repo_folder, write_ref
from app.models.hub import HubClient
from app.models.in_flight import DISK_RESERVE_BYTES, ensure_disk_space, reserve
from app.models.local_files import sha256_of
from app.models.safe_names import safe_relative_name
from app.models.transfer import (
    CancelCheck,
    DownloadProgress,
    ProgressCallback,
    check_complete,
    start_transfer,
    transfer_with_retries,
)
from app.text_table import human_bytes

__all__ = ["DISK_RESERVE_BYTES", "DownloadProgress", "DownloadedFile", "ProgressCallback", "download_file",
           "ensure_disk_space"]
# How often a pull waiting for another process's lock on the same file looks again (and checks cancel).
_LOCK_POLL_S = 0.2


@dataclass(frozen=True)
class DownloadedFile:
    """A file now in the cache: its snapshot path, blob, size, verified SHA-256 and commit."""

    repo: str
    filename: str
    path: Path
    blob: Path
    size: int
    sha256: str
    commit: str
    revision: str
    resumed_from: int = 0
    downloaded_bytes: int = 0


def download_file(
    client: HubClient, repo_id: str, filename: str, *, revision: str = "main", cache_dir: Path,
    expected_sha256: str | None = None, on_progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None, retries: int = 5, restart: bool = False, repair: bool = False,
) -> DownloadedFile:
    """Download ``filename`` of ``repo_id`` at ``revision`` into ``cache_dir`` (resuming, verifying).

    ``restart`` discards a partial download first; ``repair`` replaces a cached copy that fails its
    checksum (without it that raises DAMAGED). Raises :class:`ModelError`: DISK_SPACE (before any byte
    moves, or when the disk fills up: the verified part is kept), CHECKSUM (the partial file is deleted),
    CANCELLED, TIMEOUT, NETWORK or SERVER (the partial file is kept for the next try).
    """
    safe_relative_name(filename)
    report = on_progress or (lambda progress: None)
    is_cancelled = cancelled or (lambda: False)
    meta = client.file_metadata(repo_id, filename, revision)
    commit = check_commit(meta.commit)
    storage = repo_folder(cache_dir, repo_id)
    blob = blob_path(storage, meta.etag)
    pointer = pointer_path(storage, commit, filename)
    expected = (expected_sha256 or (meta.etag if len(meta.etag) == 64 else "")).lower() or None
    partial = blob.with_name(blob.name + ".incomplete")
    partial.parent.mkdir(parents=True, exist_ok=True)

    # One process at a time per blob (the lock huggingface_hub takes too): checking, writing and linking.
    with _blob_lock(cache_dir, storage, blob, filename, report, is_cancelled):
        if blob.exists() and (meta.size is None or blob.stat().st_size == meta.size):
            try:
                digest = _verify_existing(blob, pointer, filename, meta.etag, expected, report, is_cancelled)
                _finish(storage, blob, pointer, revision, commit)
                return DownloadedFile(repo_id, filename, pointer, blob, blob.stat().st_size, digest, commit,
                                      revision)
            except CachedFileDamaged as damaged:
                if not repair:
                    raise
                blob.unlink()
                report(DownloadProgress(filename, "notice", 0, meta.size,
                                        message=f"{filename}: {damaged.message.split(';')[0]}; downloading it "
                                                "again"))
        elif blob.exists():
            report(DownloadProgress(filename, "notice", 0, meta.size, message=(
                f"{filename}: the cached copy is {human_bytes(blob.stat().st_size)}, not the "
                f"{human_bytes(meta.size)} the Hub publishes; downloading it again")))
        if restart and partial.exists():
            report(DownloadProgress(filename, "notice", 0, meta.size, message=(
                f"{filename}: discarded the partial download ({human_bytes(partial.stat().st_size)})")))
            partial.unlink()
        resumed_from = partial.stat().st_size if partial.exists() else 0
        if meta.size is not None and resumed_from > meta.size:
            partial.unlink()  # longer than the file: not ours to resume
            resumed_from = 0
        remaining = meta.size - resumed_from if meta.size is not None else 0
        with reserve(partial.parent, remaining, filename) as reservation:
            transfer = start_transfer(partial, meta, filename, expected, report, is_cancelled)
            transfer_with_retries(client, meta, transfer, filename, report, is_cancelled, retries, reservation)
        digest = check_complete(transfer, meta, filename, expected)
        os.replace(partial, blob)
        os.chmod(blob, 0o644)
        _finish(storage, blob, pointer, revision, commit)
    size = blob.stat().st_size
    report(DownloadProgress(filename, "done", size, size))
    return DownloadedFile(repo_id, filename, pointer, blob, size, digest, commit, revision,
                          resumed_from=resumed_from, downloaded_bytes=size - resumed_from)


@contextmanager
def _blob_lock(cache_dir: Path, storage: Path, blob: Path, filename: str, report: ProgressCallback,
               is_cancelled: CancelCheck) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(cache_dir / ".locks" / storage.name / f"{blob.name}.lock"))
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        try:
            lock.acquire(timeout=_LOCK_POLL_S)
            break
        except Timeout:
            if is_cancelled():
                raise ModelError(Reason.CANCELLED, f"download of {filename} cancelled") from None
            if not told:
                told = True
                report(DownloadProgress(filename, "waiting", 0, None, message=(
                    f"{filename}: another process is downloading or checking this file; waiting for it")))
    try:
        yield
    finally:
        lock.release()


def _finish(storage: Path, blob: Path, pointer: Path, revision: str, commit: str) -> None:
    try:
        link_pointer(blob, pointer)
        write_ref(storage, revision, commit)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Even a symlink needs a little room: the verified blob stays, so the next pull only links it.
        raise ModelError(Reason.DISK_SPACE, f"{pointer.name} is downloaded and verified ({blob}) but the disk "
                                            "is full, so it could not be linked into the cache: free some space "
                                            "and run the same pull again (nothing is downloaded again)") from exc


def _verify_existing(blob: Path, pointer: Path, filename: str, etag: str, expected: str | None,
                     report: ProgressCallback, is_cancelled: CancelCheck) -> str:
    # A blob already in the cache may come from another tool, or have been damaged on disk: check it.
    def progress(done: int, total: int) -> None:
        report(DownloadProgress(filename, "verifying", done, total))

    digest = sha256_of(blob, on_progress=progress, cancelled=is_cancelled)
    problem = ""
    if expected is not None and digest != expected:
        problem = f"SHA-256 {digest} but the Hub publishes {expected}"
    elif expected is None and len(etag) == 40:
        size = blob.stat().st_size
        git_sha1 = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
        git_sha1.update(blob.read_bytes())
        if git_sha1.hexdigest() != etag.lower():
            problem = f"git SHA-1 {git_sha1.hexdigest()} but the Hub publishes {etag}"
    if problem:
        raise CachedFileDamaged(f"the cached copy of {filename} ({blob}) is damaged: it has {problem}; pull "
                                "again with --repair to download it again", str(pointer))
    return digest
