"""A loopback stand-in for the Hugging Face Hub, speaking the endpoints huggingface_hub calls.

* ``GET /api/models`` (search), ``GET /api/models/<repo>[/revision/<rev>]`` (model info, ``blobs=true`` adds
  sizes, blob ids and LFS SHA-256);
* ``HEAD|GET /<repo>/resolve/<rev>/<file>``: small files are served directly with a git-SHA-1 ETag; LFS
  files answer 302 to a second "CDN" server (another port, so another origin, as on the real Hub) with
  ``X-Repo-Commit``, ``X-Linked-Etag`` and ``X-Linked-Size``;
* the CDN serves bytes with HTTP Range support (206 + Content-Range).

Faults (server errors, delays, cut connections, slow delivery, no Content-Length, corrupted, longer or
shorter bytes through ``FakeFile.served``) are injected per test.
Both servers bind 127.0.0.1 on ephemeral ports and stop in :meth:`FakeHub.stop`.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file's content (what the Hub sends as ETag for non-LFS files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeFile:
    """One repository file; ``served`` (when set) is what the CDN sends instead of ``data``."""

    data: bytes
    lfs: bool = True
    served: bytes | None = None
    advertised_size: int | None = None  # a size the Hub claims (a huge one, to test the disk-space check)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def git_sha1(self) -> str:
        return git_blob_sha1(self.data)

    @property
    def size(self) -> int:
        return self.advertised_size if self.advertised_size is not None else len(self.data)


@dataclass
class FakeRepo:
    """A model repository at one commit."""

    repo_id: str
    files: dict[str, FakeFile]
    commit: str
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2025-01-01T00:00:00.000Z"
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None


@dataclass
class Fault:
    """Misbehaviour for requests whose path contains ``match``; ``times`` = how many requests it hits."""

    match: str
    status: int | None = None  # answer with this HTTP status
    delay_s: float = 0.0  # wait before answering
    cut_after: int | None = None  # send this many body bytes, then drop the connection
    chunk_delay_s: float = 0.0  # send the body slowly (64 KiB pieces)
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    times: int = 1


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    server: str  # "hub" or "cdn"


class FakeHub:
    """The fake Hub and its CDN; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.served_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.url = ""
        self.cdn_url = ""

    # --- content ----------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes | FakeFile], **info: Any) -> FakeRepo:
        """Publish a repository; plain bytes become LFS files unless their name ends in .json/.md/.txt."""
        prepared = {
            name: value if isinstance(value, FakeFile) else
            FakeFile(value, lfs=not name.endswith((".json", ".md", ".txt")))
            for name, value in files.items()
        }
        for file in prepared.values():
            # Hashed now, not inside the first request: a big file would make that request time out.
            _ = file.sha256, file.git_sha1
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        repo = FakeRepo(repo_id, prepared, commit, **info)
        self.repos[repo_id] = repo
        return repo

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.match in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def requests_to(self, server: str, method: str | None = None) -> list[LoggedRequest]:
        return [r for r in self.requests if r.server == server and (method is None or r.method == method)]

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for name in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, name))
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"fake-{name}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        # Kept-alive client connections hold a handler thread each: close them so those threads end too.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up at teardown."""
        self._stop.wait(seconds)


def _make_handler(hub: FakeHub, server_name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.hub = hub
    Handler.server_name = server_name
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub
    server_name: str

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with self.hub._lock:
            self.hub._connections.add(self.connection)
        try:
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client gave up (timeout, cancel) or the server is stopping: nothing to answer
        finally:
            with self.hub._lock:
                self.hub._connections.discard(self.connection)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    # --- routing ----------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        self.hub.requests.append(LoggedRequest(method, self.path, {k.lower(): v for k, v in self.headers.items()},
                                               self.server_name))
        fault = self.hub._take_fault(path)
        if fault is not None and fault.delay_s:
            self.hub.wait(fault.delay_s)
        if fault is not None and fault.status is not None:
            self._json({"error": "injected failure"}, fault.status)
            return
        query = parse_qs(split.query)
        if self.server_name == "cdn":
            match = re.fullmatch(r"/blobs/([0-9a-f]{64})", path)
            file = self._blob(match.group(1)) if match else None
            if file is None:
                self._json({"error": "no such blob"}, 404)
                return
            self._send_bytes(method, file.served if file.served is not None else file.data, {}, fault)
            return
        if path == "/api/models":
            self._search(query)
            return
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
        if match:
            self._model_info(match.group(1), match.group(2) or "main", query)
            return
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            self._resolve(method, match.group(1), match.group(2), match.group(3), fault)
            return
        self._json({"error": "not found"}, 404)

    def _blob(self, sha256: str) -> FakeFile | None:
        for repo in self.hub.repos.values():
            for file in repo.files.values():
                if file.lfs and file.sha256 == sha256:
                    return file
        return None

    def _repo(self, repo_id: str, revision: str) -> FakeRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
            return None
        if revision not in ("main", repo.commit):
            self._json({"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
            return None
        return repo

    # --- endpoints --------------------------------------------------------------------------------
    def _search(self, query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        filters = query.get("filter", [])
        pipeline = (query.get("pipeline_tag") or [None])[0]
        sort = (query.get("sort") or ["downloads"])[0]
        limit = int((query.get("limit") or ["1000"])[0])
        hits = [r for r in self.hub.repos.values()
                if text in r.repo_id.lower() and all(f in r.tags for f in filters)
                and (pipeline is None or r.pipeline_tag == pipeline)]
        key = {"downloads": "downloads", "likes": "likes", "lastModified": "last_modified"}[sort]
        hits.sort(key=lambda r: getattr(r, key), reverse=True)
        self._json([self._summary(r) for r in hits[:limit]])

    def _summary(self, repo: FakeRepo) -> dict[str, Any]:
        return {"_id": repo.commit[:24], "id": repo.repo_id, "modelId": repo.repo_id, "downloads": repo.downloads,
                "likes": repo.likes, "lastModified": repo.last_modified, "tags": repo.tags,
                "pipeline_tag": repo.pipeline_tag, "library_name": repo.library_name, "private": False}

    def _model_info(self, repo_id: str, revision: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        blobs = (query.get("blobs") or ["false"])[0].lower() == "true"
        siblings = []
        for name, file in repo.files.items():
            sibling: dict[str, Any] = {"rfilename": name}
            if blobs:
                sibling["size"] = file.size
                sibling["blobId"] = file.git_sha1
                if file.lfs:
                    sibling["lfs"] = {"size": file.size, "sha256": file.sha256, "pointerSize": 134}
            siblings.append(sibling)
        self._json({**self._summary(repo), "sha": repo.commit, "siblings": siblings,
                    "createdAt": "2024-01-01T00:00:00.000Z"})

    def _resolve(self, method: str, repo_id: str, revision: str, filename: str, fault: Fault | None) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        file = repo.files.get(filename)
        commit_header = {"X-Repo-Commit": repo.commit}
        if file is None:
            self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound", **commit_header})
            return
        if file.lfs:
            location = f"{self.hub.cdn_url}/blobs/{file.sha256}?name={quote(filename)}"
            self._send(302, b"", {"Location": location, "ETag": f'"{file.sha256}"',
                                  "X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(file.size),
                                  **commit_header})
            return
        headers = {"ETag": f'"{file.git_sha1}"', **commit_header}
        self._send_bytes(method, file.served if file.served is not None else file.data, headers, fault)

    # --- responses --------------------------------------------------------------------------------
    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_bytes(self, method: str, data: bytes, headers: dict[str, str], fault: Fault | None) -> None:
        start, status = 0, 200
        extra = {"Accept-Ranges": "bytes", **headers}
        range_header = self.headers.get("Range")
        if range_header:
            match = re.fullmatch(r"bytes=(\d+)-", range_header.strip())
            if match is None or int(match.group(1)) >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            start, status = int(match.group(1)), 206
            extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        if fault is not None and fault.no_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "HEAD":
            return
        if fault is not None and fault.cut_after is not None:
            self.wfile.write(body[: fault.cut_after])
            self.wfile.flush()
            with self.hub._lock:
                self.hub.served_bytes += min(len(body), fault.cut_after)
            self.close_connection = True
            # FIN, not RST: the client gets every byte sent, then an early end of the body.
            self.connection.shutdown(socket.SHUT_WR)
            return
        piece = 64 * 1024 if fault is not None and fault.chunk_delay_s else len(body) or 1
        for offset in range(0, len(body), piece):
            if fault is not None and fault.chunk_delay_s:
                self.hub.wait(fault.chunk_delay_s)
                if self.hub._stop.is_set():
                    return
            self.wfile.write(body[offset: offset + piece])
            with self.hub._lock:
                self.hub.served_bytes += len(body[offset: offset + piece])
        self.wfile.flush()


def tiny_gguf(architecture: str = "llama", file_type: int | None = 15, padding: int = 0,
              name: str = "tiny") -> bytes:
    """A valid GGUF v3 header with a few metadata entries and no tensors, plus ``padding`` filler bytes."""
    import struct

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    entries = [string("general.architecture") + struct.pack("<I", 8) + string(architecture),
               string("general.name") + struct.pack("<I", 8) + string(name),
               string(f"{architecture}.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048)]
    if file_type is not None:
        entries.append(string("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", file_type))
    header = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 0) + struct.pack("<Q", len(entries))
    body = header + b"".join(entries)
    return body + bytes(-len(body) % 32) + _filler(padding)


def _filler(count: int) -> bytes:
    # Deterministic, incompressible-looking bytes without a random seed to manage.
    out = bytearray()
    block = hashlib.sha256(b"filler").digest()
    while len(out) < count:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:count])
