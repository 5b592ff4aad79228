"""Verified, resumable downloads of one Hub file into the standard Hugging Face cache.

The partial file is ``blobs/<etag>.incomplete`` (the name older huggingface_hub releases resume from too), so
an interrupted download — a lost connection, a cancel, a killed process — continues where it stopped with an
HTTP Range request. Bytes are hashed as they arrive and checked against the SHA-256 the Hub publishes for LFS
files (the git SHA-1 for small files) before the blob is moved into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.models.errors import ModelError, Reason
from app.models.hf_cache import blob_path, check_commit, link_pointer, pointer_path, repo_folder, write_ref
from app.models.hub import FileMetadata, HubClient, describe_hub_error
from app.models.local_files import sha256_of
from app.models.safe_names import safe_relative_name
from app.text_table import human_bytes

CHUNK_BYTES = 1024 * 1024
PROGRESS_INTERVAL_S = 0.1
# Room left on the disk after a download, so the system does not end up at zero bytes free.
DISK_RESERVE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands; ``phase`` is checking, downloading, verifying or done."""

    filename: str
    phase: str
    done_bytes: int
    total_bytes: int | None
    rate_bytes_per_s: float = 0.0
    eta_s: float | None = None


ProgressCallback = Callable[[DownloadProgress], None]
CancelCheck = Callable[[], bool]


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


@dataclass
class _Transfer:
    """The mutable state of one transfer (offset, running hashes, rate clock)."""

    partial: Path
    total: int | None
    offset: int
    sha256: Any
    git_sha1: Any | None
    started: float
    started_offset: int
    last_report: float = 0.0


def download_file(
    client: HubClient, repo_id: str, filename: str, *, revision: str = "main", cache_dir: Path,
    expected_sha256: str | None = None, on_progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None, retries: int = 3,
) -> DownloadedFile:
    """Download ``filename`` of ``repo_id`` at ``revision`` into ``cache_dir`` (resuming, verifying).

    Raises :class:`ModelError`: DISK_SPACE before any byte moves, CHECKSUM (the partial file is deleted),
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

    if blob.exists() and (meta.size is None or blob.stat().st_size == meta.size):
        digest = _verify_existing(blob, filename, expected, report, is_cancelled)
        _finish(storage, blob, pointer, revision, commit)
        return DownloadedFile(repo_id, filename, pointer, blob, blob.stat().st_size, digest, commit, revision)

    partial = blob.with_name(blob.name + ".incomplete")
    partial.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(cache_dir / ".locks" / storage.name / f"{blob.name}.lock"))
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ModelError(Reason.BAD_INPUT, f"{filename} is already being downloaded by another process; "
                                           "wait for it to finish") from None
    try:
        resumed_from = partial.stat().st_size if partial.exists() else 0
        if meta.size is not None and resumed_from > meta.size:
            partial.unlink()  # longer than the file: not ours to resume
            resumed_from = 0
        _check_disk_space(partial.parent, meta.size, resumed_from, filename)
        transfer = _start_transfer(partial, meta, filename, expected, report, is_cancelled)
        _transfer_with_retries(client, meta, transfer, filename, report, is_cancelled, retries)
        digest = _check_complete(transfer, meta, filename, expected)
        os.replace(partial, blob)
        os.chmod(blob, 0o644)
    finally:
        lock.release()
    _finish(storage, blob, pointer, revision, commit)
    size = blob.stat().st_size
    report(DownloadProgress(filename, "done", size, size))
    return DownloadedFile(repo_id, filename, pointer, blob, size, digest, commit, revision,
                          resumed_from=resumed_from, downloaded_bytes=size - resumed_from)


def _finish(storage: Path, blob: Path, pointer: Path, revision: str, commit: str) -> None:
    link_pointer(blob, pointer)
    write_ref(storage, revision, commit)


def ensure_disk_space(folder: Path, needed: int, what: str) -> None:
    """Raise DISK_SPACE unless ``needed`` bytes (plus a reserve) fit on the disk holding ``folder``."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed + DISK_RESERVE_BYTES > free:
        raise ModelError(Reason.DISK_SPACE, f"not enough disk space for {what}: it needs {human_bytes(needed)} "
                                            f"and {folder} has {human_bytes(free)} free (keeping "
                                            f"{human_bytes(DISK_RESERVE_BYTES)} spare); nothing was downloaded")


def _check_disk_space(folder: Path, size: int | None, have: int, filename: str) -> None:
    if size is not None:
        ensure_disk_space(folder, size - have, filename)


def _start_transfer(partial: Path, meta: FileMetadata, filename: str, expected: str | None,
                    report: ProgressCallback, is_cancelled: CancelCheck) -> _Transfer:
    sha256 = hashlib.sha256()
    # A small (non-LFS) file has no published SHA-256; its ETag is the git blob SHA-1, checked instead.
    git_sha1 = None
    if expected is None and len(meta.etag) == 40 and meta.size is not None:
        git_sha1 = hashlib.sha1(f"blob {meta.size}\0".encode(), usedforsecurity=False)
    offset = 0
    if partial.exists():
        # The bytes already there count towards the hash: read them once before asking for the rest.
        with partial.open("rb") as handle:
            while chunk := handle.read(4 * CHUNK_BYTES):
                if is_cancelled():
                    raise ModelError(Reason.CANCELLED, f"download of {filename} cancelled")
                sha256.update(chunk)
                if git_sha1 is not None:
                    git_sha1.update(chunk)
                offset += len(chunk)
                report(DownloadProgress(filename, "checking", offset, meta.size))
    now = time.monotonic()
    return _Transfer(partial, meta.size, offset, sha256, git_sha1, now, offset)


def _transfer_with_retries(client: HubClient, meta: FileMetadata, transfer: _Transfer, filename: str,
                           report: ProgressCallback, is_cancelled: CancelCheck, retries: int) -> None:
    import httpx2

    failures = 0
    while True:
        before = transfer.offset
        try:
            _stream(client, meta, transfer, filename, report, is_cancelled)
            return
        except (httpx2.TimeoutException, httpx2.TransportError) as exc:
            failures = 1 if transfer.offset > before else failures + 1
            if failures > retries:
                mapped = describe_hub_error(exc, f"downloading {filename}", client.timeout, client.endpoint)
                kept = f" ({human_bytes(transfer.offset)} of {human_bytes(transfer.total)} kept: run the same pull " \
                       "again to resume)"
                raise ModelError(mapped.reason if mapped else Reason.NETWORK,
                                 (mapped.message if mapped else str(exc)) + kept) from exc
            _sleep_unless_cancelled(min(0.5 * 2 ** (failures - 1), 4.0), is_cancelled, filename)


def _stream(client: HubClient, meta: FileMetadata, transfer: _Transfer, filename: str,
            report: ProgressCallback, is_cancelled: CancelCheck) -> None:
    from huggingface_hub.utils import get_session, hf_raise_for_status

    if transfer.total is not None and transfer.offset == transfer.total:
        return
    headers = client.auth_headers()
    if not _same_origin(meta.url, meta.location):
        headers.pop("authorization", None)  # a signed CDN address needs no token, and must not receive one
    if transfer.offset:
        headers["Range"] = f"bytes={transfer.offset}-"
    with get_session().stream("GET", meta.location, headers=headers, timeout=client.timeout) as response:
        if response.status_code == 416 and transfer.offset and transfer.total == transfer.offset:
            return
        try:
            hf_raise_for_status(response)
        except Exception as exc:
            mapped = describe_hub_error(exc, f"downloading {filename}", client.timeout, client.endpoint)
            if mapped is None:
                raise
            raise mapped from exc
        if transfer.offset and response.status_code != 206:
            _restart(transfer)  # the server ignored the Range header: start over rather than corrupt the file
        elif transfer.offset:
            _check_content_range(response.headers.get("Content-Range", ""), transfer.offset, filename)
        if transfer.total is None:
            length = response.headers.get("Content-Length")
            transfer.total = transfer.offset + int(length) if length and length.isdigit() else None
            _check_disk_space(transfer.partial.parent, transfer.total, transfer.offset, filename)
        with transfer.partial.open("ab") as handle:
            # Chunks as they arrive (not re-buffered to a fixed size): a dropped connection loses no byte
            # that was received, so the resume starts exactly where the data stopped.
            for chunk in response.iter_bytes():
                if is_cancelled():
                    raise ModelError(Reason.CANCELLED, f"download of {filename} cancelled "
                                     f"({human_bytes(transfer.offset)} kept: pull again to resume)")
                handle.write(chunk)
                transfer.sha256.update(chunk)
                if transfer.git_sha1 is not None:
                    transfer.git_sha1.update(chunk)
                transfer.offset += len(chunk)
                _report(transfer, filename, report)
            handle.flush()
            os.fsync(handle.fileno())


def _restart(transfer: _Transfer) -> None:
    transfer.partial.write_bytes(b"")
    transfer.offset = transfer.started_offset = 0
    transfer.sha256 = hashlib.sha256()
    if transfer.git_sha1 is not None and transfer.total is not None:
        transfer.git_sha1 = hashlib.sha1(f"blob {transfer.total}\0".encode(), usedforsecurity=False)


def _check_content_range(content_range: str, offset: int, filename: str) -> None:
    # "bytes 1000-1999/2000": the answer must start exactly where the partial file ends.
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        start = -1
    if start != offset:
        raise ModelError(Reason.SERVER, f"downloading {filename}: asked for bytes from {offset} but the server "
                                        f"sent {content_range or 'no Content-Range'}")


def _report(transfer: _Transfer, filename: str, report: ProgressCallback) -> None:
    now = time.monotonic()
    if now - transfer.last_report < PROGRESS_INTERVAL_S and transfer.offset != transfer.total:
        return
    transfer.last_report = now
    elapsed = max(now - transfer.started, 1e-6)
    rate = (transfer.offset - transfer.started_offset) / elapsed
    eta = (transfer.total - transfer.offset) / rate if transfer.total is not None and rate > 0 else None
    report(DownloadProgress(filename, "downloading", transfer.offset, transfer.total, rate, eta))


def _check_complete(transfer: _Transfer, meta: FileMetadata, filename: str, expected: str | None) -> str:
    if transfer.total is not None and transfer.offset != transfer.total:
        raise ModelError(Reason.NETWORK, f"downloading {filename}: the connection ended after "
                                         f"{human_bytes(transfer.offset)} of {human_bytes(transfer.total)}; "
                                         "pull again to resume")
    digest: str = transfer.sha256.hexdigest()
    problem = ""
    if expected is not None and digest != expected:
        problem = f"SHA-256 {digest} but the Hub publishes {expected}"
    elif transfer.git_sha1 is not None and transfer.git_sha1.hexdigest() != meta.etag.lower():
        problem = f"git SHA-1 {transfer.git_sha1.hexdigest()} but the Hub publishes {meta.etag}"
    if problem:
        transfer.partial.unlink(missing_ok=True)  # corrupt bytes cannot be resumed from
        raise ModelError(Reason.CHECKSUM, f"{filename} is corrupt: the downloaded bytes have {problem}; "
                                          "the file was deleted and nothing was registered")
    return digest


def _verify_existing(blob: Path, filename: str, expected: str | None, report: ProgressCallback,
                     is_cancelled: CancelCheck) -> str:
    # A blob already in the cache may come from another tool: check it before registering it.
    def progress(done: int, total: int) -> None:
        report(DownloadProgress(filename, "verifying", done, total))

    digest = sha256_of(blob, on_progress=progress, cancelled=is_cancelled)
    if expected is not None and digest != expected:
        raise ModelError(Reason.CHECKSUM, f"the cached copy of {filename} ({blob}) has SHA-256 {digest} but the "
                                          f"Hub publishes {expected}; delete it and pull again")
    return digest


def _sleep_unless_cancelled(seconds: float, is_cancelled: CancelCheck, filename: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_cancelled():
            raise ModelError(Reason.CANCELLED, f"download of {filename} cancelled")
        time.sleep(0.05)


def _same_origin(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.hostname, first.port) == (second.scheme, second.hostname, second.port)
