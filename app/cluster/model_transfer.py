"""Model files on a node: reuse the node's copy when it is the same file, else send it in chunks.

Only bytes cross: a manifest (relative names, sizes, sha256) and the files' contents, which the node checks
against the manifest before its engine opens them with the same safe loaders as here (safetensors,
``weights_only`` torch, GGUF, ONNX). Nothing from a model is ever unpickled or executed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CHUNK_BYTES = 8 * 2**20
IN_FLIGHT_CHUNKS = 4  # chunks on their way at once: keeps the link busy without filling the object store
_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's sha256, remembered per (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * 2**20):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def _model_files(path: Path) -> tuple[Path, list[Path]]:
    # A folder model (timm layout) is every file in it; a file model also needs its same-stem siblings
    # (x.onnx beside x.json and x.onnx.data).
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith(".") for part in p.relative_to(path).parts))
        return path, files
    stem = path.name.split(".")[0]
    siblings = sorted(p for p in path.parent.iterdir() if p.is_file() and p != path
                      and p.name.split(".")[0] == stem and not p.name.startswith("."))
    return path.parent, [path, *siblings]


def build_manifest(path: str | Path) -> dict[str, Any]:
    """What identifies a local model on another machine: names, sizes and sha256 of its files."""
    source = Path(path).expanduser().resolve()
    root, files = _model_files(source)
    entries = [{"path": str(f.relative_to(root)), "size": f.stat().st_size, "sha256": file_sha256(f)}
               for f in files]
    ident = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:24]
    return {"id": ident, "kind": "dir" if source.is_dir() else "file", "source": str(source),
            "entry": source.name, "files": entries, "total_bytes": sum(e["size"] for e in entries)}


def send_model(actor: Any, manifest: Mapping[str, Any], on_progress: Callable[[int, int], None],
               cancelled: Callable[[], bool] = lambda: False, local: Path | None = None) -> str:
    """The node path of the model: the node's own copy if identical, else the files sent chunk by chunk.

    ``local`` is where the files are read here when it differs from the manifest's ``source``.
    """
    import ray

    found = ray.get(actor.find_model.remote(manifest))
    if found:
        return str(found)
    source = local or Path(manifest["source"])
    root = source if manifest["kind"] == "dir" else source.parent
    total = int(manifest["total_bytes"])
    transfer = ray.get(actor.begin_transfer.remote(manifest))
    sent = 0
    pending: list[Any] = []
    on_progress(0, total)
    for entry in manifest["files"]:
        with (root / entry["path"]).open("rb") as handle:
            offset = 0
            while chunk := handle.read(CHUNK_BYTES):
                if cancelled():
                    raise InterruptedError("model transfer cancelled")
                pending.append(actor.write_chunk.remote(transfer, entry["path"], offset, chunk))
                offset += len(chunk)
                sent += len(chunk)
                if len(pending) >= IN_FLIGHT_CHUNKS:
                    done, pending = ray.wait(pending, num_returns=1)
                    ray.get(done)
                    on_progress(sent, total)
    ray.get(pending)
    path = str(ray.get(actor.finish_transfer.remote(transfer)))
    on_progress(total, total)
    return path


class NodeModelStore:
    """The node side: finds identical local copies and receives transfers into a content-addressed cache."""

    def __init__(self, root: Path | None = None) -> None:
        from core import paths

        self.root = root or paths.cache_dir("cluster-models")
        self._transfers: dict[str, tuple[Mapping[str, Any], Path]] = {}

    @staticmethod
    def _matches(root: Path, manifest: Mapping[str, Any]) -> bool:
        for entry in manifest["files"]:
            candidate = root / entry["path"]
            # Sizes first: the hash is read only for a file that can still be the same.
            if not candidate.is_file() or candidate.stat().st_size != entry["size"]:
                return False
        return all(file_sha256(root / e["path"]) == e["sha256"] for e in manifest["files"])

    def find(self, manifest: Mapping[str, Any]) -> str | None:
        """The same path as on the client, or an earlier transfer, when every file matches."""
        source = Path(str(manifest["source"]))
        same_root = source if manifest["kind"] == "dir" else source.parent
        if self._matches(same_root, manifest):
            return str(source)
        cached = self.root / str(manifest["id"])
        if (cached / ".complete").exists() and self._matches(cached, manifest):
            return str(cached / str(manifest["entry"]) if manifest["kind"] == "file" else cached)
        return None

    def _safe(self, base: Path, relative: str) -> Path:
        target = (base / relative).resolve()
        if not target.is_relative_to(base.resolve()):
            raise ValueError(f"refusing a file outside the transfer folder: {relative!r}")
        return target

    def begin(self, manifest: Mapping[str, Any]) -> str:
        """A fresh partial folder for this manifest."""
        transfer_id = uuid.uuid4().hex
        partial = self.root / f".partial-{transfer_id}"
        partial.mkdir(parents=True)
        for entry in manifest["files"]:
            target = self._safe(partial, entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                handle.truncate(int(entry["size"]))
        self._transfers[transfer_id] = (manifest, partial)
        return transfer_id

    def write(self, transfer_id: str, relative: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (chunks may arrive in any order)."""
        manifest, partial = self._transfers[transfer_id]
        if relative not in {e["path"] for e in manifest["files"]}:
            raise ValueError(f"{relative!r} is not part of this transfer")
        fd = os.open(self._safe(partial, relative), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    def finish(self, transfer_id: str) -> str:
        """Check every sha256, then publish the folder under the manifest id."""
        manifest, partial = self._transfers.pop(transfer_id)
        if not self._matches(partial, manifest):
            shutil.rmtree(partial, ignore_errors=True)
            raise ValueError("the received model does not match its sha256 (transfer damaged); nothing kept")
        (partial / ".complete").touch()
        final = self.root / str(manifest["id"])
        if final.exists():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.rename(final)
        return str(final / str(manifest["entry"]) if manifest["kind"] == "file" else final)
