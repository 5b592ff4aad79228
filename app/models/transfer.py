"""The byte transfer of one file: Range resumes, retries said out loud, a cap at the advertised size, and
a disk that fills up while writing stopped cleanly with the verified prefix kept."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from app.models.errors import ModelError, Reason
from app.models.hub import FileMetadata, HubClient, describe_hub_error
from app.models.in_flight import DISK_RESERVE_BYTES, Reservation, ensure_disk_space
from app.text_table import human_bytes

CHUNK_BYTES = 1024 * 1024
PROGRESS_INTERVAL_S = 0.1
# Free space is measured again after this many bytes written (a statvfs call is cheap, a full disk is not).
SPACE_CHECK_BYTES = 1024 * 1024
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands.

    ``phase`` is checking, waiting, downloading, verifying, notice or done; a notice carries ``message``
    (a retry after a lost connection, a server that sent too much, a partial file discarded).
    """

    filename: str
    phase: str
    done_bytes: int
    total_bytes: int | None
    rate_bytes_per_s: float = 0.0
    eta_s: float | None = None
    message: str = ""


ProgressCallback = Callable[[DownloadProgress], None]
CancelCheck = Callable[[], bool]


class _EndedEarly(Exception):
    """The body ended (cleanly, without a length to tell) before the advertised size."""


@dataclass
class Transfer:
    """The mutable state of one transfer (offset, running hashes, rate clock, what the server did)."""

    partial: Path
    total: int | None
    offset: int
    sha256: Any
    git_sha1: Any | None
    started: float
    started_offset: int
    last_report: float = 0.0
    overflowed: bool = False  # the server sent more bytes than it advertised (the rest was not read)


def file_host(meta: FileMetadata, client: HubClient) -> str:
    """Who serves the bytes, in words: the Hub itself, or the file host it redirected to."""
    location = urlsplit(meta.location)
    origin = f"{location.scheme}://{location.netloc}"
    hub = urlsplit(client.endpoint)
    if (location.scheme, location.netloc) == (hub.scheme, hub.netloc):
        return f"the Hub ({origin})"
    return f"the file host {origin}"


def start_transfer(partial: Path, meta: FileMetadata, filename: str, expected: str | None,
                   report: ProgressCallback, is_cancelled: CancelCheck) -> Transfer:
    """Hash the bytes already in ``partial`` (they count towards the checksum) and return the state."""
    sha256 = hashlib.sha256()
    # A small (non-LFS) file has no published SHA-256; its ETag is the git blob SHA-1, checked instead.
    git_sha1 = None
    if expected is None and len(meta.etag) == 40 and meta.size is not None:
        git_sha1 = hashlib.sha1(f"blob {meta.size}\0".encode(), usedforsecurity=False)
    offset = 0
    if partial.exists():
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
    return Transfer(partial, meta.size, offset, sha256, git_sha1, now, offset)


def transfer_with_retries(client: HubClient, meta: FileMetadata, transfer: Transfer, filename: str,
                          report: ProgressCallback, is_cancelled: CancelCheck, retries: int,
                          reservation: Reservation) -> None:
    """Stream the rest of the file, resuming after a lost connection up to ``retries`` times in a row."""
    import httpx2

    host = file_host(meta, client)
    failures = 0
    while True:
        before = transfer.offset
        try:
            _stream(client, meta, transfer, filename, report, is_cancelled, reservation, host)
            if transfer.total is not None and transfer.offset < transfer.total:
                raise _EndedEarly
            return
        except (httpx2.TimeoutException, httpx2.TransportError, _EndedEarly) as exc:
            failures = 1 if transfer.offset > before else failures + 1
            if failures > retries:
                raise _transport_failure(exc, transfer, filename, host, client.timeout) from exc
            what = "stopped answering" if isinstance(exc, httpx2.TimeoutException) else "connection lost"
            report(DownloadProgress(filename, "notice", transfer.offset, transfer.total,
                                    message=f"{filename}: {what} at {human_bytes(transfer.offset)} ({host}), "
                                            f"resuming ({failures}/{retries})"))
            _sleep_unless_cancelled(min(0.5 * 2 ** (failures - 1), 4.0), is_cancelled, filename)


def _transport_failure(exc: Exception, transfer: Transfer, filename: str, host: str,
                       timeout: float) -> ModelError:
    import httpx2

    kept = f" ({human_bytes(transfer.offset)} of {human_bytes(transfer.total)} kept: run the same pull again " \
           "to resume)"
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError(Reason.TIMEOUT, f"downloading {filename}: {host} did not answer within {timeout:g} s"
                                          + kept)
    if isinstance(exc, _EndedEarly):
        return ModelError(Reason.NETWORK, f"downloading {filename}: {host} ended the transfer at "
                                          f"{human_bytes(transfer.offset)}, short of the "
                                          f"{human_bytes(transfer.total)} the Hub advertises" + kept)
    if isinstance(exc, httpx2.ConnectError):
        return ModelError(Reason.NETWORK, f"downloading {filename}: cannot connect to {host} ({exc})" + kept)
    return ModelError(Reason.NETWORK, f"downloading {filename}: {host} dropped the connection at "
                                      f"{human_bytes(transfer.offset)} ({type(exc).__name__})" + kept)


def _stream(client: HubClient, meta: FileMetadata, transfer: Transfer, filename: str, report: ProgressCallback,
            is_cancelled: CancelCheck, reservation: Reservation, host: str) -> None:
    from huggingface_hub.utils import get_session, hf_raise_for_status

    if transfer.total is not None and transfer.offset == transfer.total:
        return
    headers = client.auth_headers()
    if not _same_origin(meta.url, meta.location):
        headers.pop("authorization", None)  # a signed CDN address needs no token, and must not receive one
    if transfer.offset:
        headers["Range"] = f"bytes={transfer.offset}-"
    with get_session().stream("GET", meta.location, headers=headers, timeout=client.timeout) as response:
        if response.status_code == 416 and transfer.offset:
            if transfer.total == transfer.offset:
                return
            raise _range_refused(response.headers.get("Content-Range", ""), transfer, filename, host)
        try:
            hf_raise_for_status(response)
        except Exception as exc:
            mapped = describe_hub_error(exc, f"downloading {filename}", client.timeout, client.endpoint,
                                        who=host)
            if mapped is None:
                raise
            raise mapped from exc
        if transfer.offset and response.status_code != 206:
            _restart(transfer)  # the server ignored the Range header: start over rather than corrupt the file
        elif transfer.offset:
            _check_content_range(response.headers.get("Content-Range", ""), transfer.offset, filename)
        if transfer.total is None:
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                # The Hub gave no size, so only now can the space this file needs be checked and reserved.
                transfer.total = transfer.offset + int(length)
                ensure_disk_space(transfer.partial.parent, int(length), filename)
                reservation.update(int(length), force=True)
        with transfer.partial.open("ab", buffering=0) as handle:
            # Chunks as they arrive (not re-buffered to a fixed size): a dropped connection loses no byte
            # that was received, so the resume starts exactly where the data stopped.
            checked_at = transfer.offset
            for chunk in response.iter_bytes():
                if is_cancelled():
                    raise ModelError(Reason.CANCELLED, f"download of {filename} cancelled "
                                     f"({human_bytes(transfer.offset)} kept: pull again to resume)")
                if transfer.total is not None and transfer.offset + len(chunk) > transfer.total:
                    # Never more than advertised: the disk check counted that size, and a longer body is
                    # not the file the Hub describes.
                    chunk = chunk[: transfer.total - transfer.offset]
                    transfer.overflowed = True
                if transfer.offset - checked_at >= SPACE_CHECK_BYTES:
                    _check_margin(transfer, filename)
                    checked_at = transfer.offset
                _write(handle, chunk, transfer, filename)
                transfer.sha256.update(chunk)
                if transfer.git_sha1 is not None:
                    transfer.git_sha1.update(chunk)
                transfer.offset += len(chunk)
                _report(transfer, filename, report)
                if transfer.total is not None:
                    reservation.update(transfer.total - transfer.offset)
                if transfer.overflowed:
                    report(DownloadProgress(
                        filename, "notice", transfer.offset, transfer.total,
                        message=f"{filename}: {host} sent more bytes than the {human_bytes(transfer.total)} "
                                f"it advertised; stopped reading at {human_bytes(transfer.total)}"))
                    break
            _sync(handle, transfer, filename)


def _write(handle: BinaryIO, chunk: bytes, transfer: Transfer, filename: str) -> None:
    # Unbuffered, so a full disk shows at this write and never later at a flush after the hash moved on.
    view = memoryview(chunk)
    try:
        while view:
            written = handle.write(view)
            view = view[written or 0:]
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise
        _disk_full(handle, transfer, filename)


def _sync(handle: BinaryIO, transfer: Transfer, filename: str) -> None:
    try:
        os.fsync(handle.fileno())
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise
        _disk_full(handle, transfer, filename)


def _disk_full(handle: BinaryIO, transfer: Transfer, filename: str) -> None:
    # Cut back to the bytes already hashed: the partial file then holds exactly the prefix the next pull
    # re-hashes and resumes from, and no torn half-chunk.
    os.ftruncate(handle.fileno(), transfer.offset)
    need = (transfer.total - transfer.offset) if transfer.total is not None else None
    room = f"free at least {human_bytes(need + DISK_RESERVE_BYTES)}" if need is not None else "free some space"
    raise ModelError(Reason.DISK_SPACE, f"the disk holding {transfer.partial.parent} is full: downloading "
                                        f"{filename} stopped at {human_bytes(transfer.offset)} of "
                                        f"{human_bytes(transfer.total)}; the part downloaded is kept: {room} "
                                        "and run the same pull again to resume")


def _check_margin(transfer: Transfer, filename: str) -> None:
    # Another program may be filling the disk: stop while the spare margin is still there.
    free = shutil.disk_usage(transfer.partial.parent).free
    need = (transfer.total - transfer.offset) if transfer.total is not None else 0
    if free - need >= DISK_RESERVE_BYTES:
        return
    raise ModelError(Reason.DISK_SPACE, f"the disk holding {transfer.partial.parent} is filling up: "
                                        f"{human_bytes(free)} free while {filename} still needs "
                                        f"{human_bytes(need)} (keeping {human_bytes(DISK_RESERVE_BYTES)} "
                                        f"spare); stopped at {human_bytes(transfer.offset)} of "
                                        f"{human_bytes(transfer.total)} and kept that part: free space and "
                                        "run the same pull again to resume")


def _range_refused(content_range: str, transfer: Transfer, filename: str, host: str) -> ModelError:
    # "bytes */N": the size of the server's copy.
    size_text = content_range.rpartition("/")[2]
    server_size = int(size_text) if size_text.isdigit() else None
    have = human_bytes(transfer.offset)
    if server_size is not None:
        copy = f"its copy of the file is {human_bytes(server_size)}, no longer than the {have} already " \
               "downloaded"
        if transfer.total is not None and server_size < transfer.total:
            copy += f" and than the {human_bytes(transfer.total)} the Hub advertises (the server's file is " \
                    "truncated; restarting will stop at its end too until the server is fixed)"
    else:
        copy = f"its copy of the file is shorter than the {have} already downloaded"
    return ModelError(Reason.SERVER, f"downloading {filename}: {host} refused to resume (416 Range Not "
                                     f"Satisfiable): {copy}. The partial file is kept; pull again with "
                                     "--restart to discard it and download from the start")


def _restart(transfer: Transfer) -> None:
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


def _report(transfer: Transfer, filename: str, report: ProgressCallback) -> None:
    now = time.monotonic()
    if now - transfer.last_report < PROGRESS_INTERVAL_S and transfer.offset != transfer.total:
        return
    transfer.last_report = now
    elapsed = max(now - transfer.started, 1e-6)
    rate = (transfer.offset - transfer.started_offset) / elapsed
    eta = (transfer.total - transfer.offset) / rate if transfer.total is not None and rate > 0 else None
    report(DownloadProgress(filename, "downloading", transfer.offset, transfer.total, rate, eta))


def check_complete(transfer: Transfer, meta: FileMetadata, filename: str, expected: str | None) -> str:
    """The SHA-256 of a finished transfer; a short or corrupt file raises (a corrupt one is deleted)."""
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
        extra = " (the server also sent more bytes than it advertised: it is serving a different file; try " \
                "again later or another mirror)" if transfer.overflowed else ""
        raise ModelError(Reason.CHECKSUM, f"{filename} is corrupt: the downloaded bytes have {problem}; "
                                          f"the file was deleted and nothing was registered{extra}")
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
