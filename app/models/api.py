"""The model manager as one object the GUI and the CLI use: search, files, pull, list, remove, import, scan.

Long operations report through plain callbacks (no Qt here) and stop when ``cancelled()`` turns true; the
GUI runs them on its background-work helper and turns the callbacks into signals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.models.download import DownloadedFile, DownloadProgress, ProgressCallback, download_file
from app.models.errors import CachedFileDamaged, ModelError, Reason
from app.models.fit import DEFAULT_CONTEXT, FitEstimate, estimate_file_fit
from app.models.formats import detect_file
from app.models.hf_cache import default_cache_dir, remove_snapshot_file, repo_folder
from app.models.hub import HubClient, HubFile, HubRepo, RepoFiles, pick_default_files
from app.models.importing import ImportReport, import_path
from app.models.in_flight import ensure_disk_space
from app.models.integrity import Health, check_record
from app.models.local_files import model_stem
from app.models.records import ModelRecord
from app.models.registry import Registry
from app.models.scan import ScanRoots, scan
from app.text_table import human_bytes

# Sources whose files the workbench may delete: its own downloads, and (when asked) the shared HF cache.
_DELETABLE = ("hub", "hf-cache")


@dataclass(frozen=True)
class FileRow:
    """A repository file with the fit verdict of the model it belongs to (all parts of a split GGUF)."""

    file: HubFile
    model_size: int | None
    fit: FitEstimate | None


@dataclass(frozen=True)
class FileListing:
    """``files REPO``: the files, and the free memory the verdicts were measured against."""

    repo: RepoFiles
    rows: list[FileRow]
    free_ram: int
    free_vram: int | None
    n_ctx: int


@dataclass(frozen=True)
class PullResult:
    """A finished pull: the registered model and the files now in the cache."""

    record: ModelRecord
    created: bool
    files: list[DownloadedFile] = field(default_factory=list)


@dataclass(frozen=True)
class RemoveResult:
    """A removed model, the bytes freed on disk, and what happened to its files."""

    record: ModelRecord
    freed_bytes: int
    deleted: list[str]
    note: str = ""


class ModelManager:
    """Registry + Hub + cache; one per process is plenty (the registry serializes database access)."""

    def __init__(self, *, registry: Registry | None = None, hub: HubClient | None = None,
                 cache_dir: Path | None = None) -> None:
        self._owns_registry = registry is None
        self.registry = registry or Registry()
        self.hub = hub or HubClient()
        self._cache_dir = cache_dir

    def close(self) -> None:
        """Release the registry's database if this manager opened it."""
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> ModelManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cache_dir(self) -> Path:
        """The Hugging Face cache downloads go to (shared with other tools)."""
        return self._cache_dir or default_cache_dir()

    # --- the Hub ----------------------------------------------------------------------------------
    def search(self, query: str, *, kind: str = "llm", sort: str = "downloads", limit: int = 20) -> list[HubRepo]:
        """Hub repositories for ``kind`` matching ``query``."""
        return self.hub.search(query, kind=kind, sort=sort, limit=limit)

    def files(self, repo_id: str, *, revision: str | None = None, n_ctx: int = DEFAULT_CONTEXT) -> FileListing:
        """A repository's files with quant and a fit verdict against the memory free right now."""
        from core.memory_fit import available_memory

        listing = self.hub.repo_files(repo_id, revision)
        free_ram, free_vram = available_memory()
        group_sizes: dict[str, int] = {}
        for file in listing.files:
            if file.shard is not None and file.size is not None:
                group_sizes[file.shard[0]] = group_sizes.get(file.shard[0], 0) + file.size
        rows = []
        for file in listing.files:
            size = group_sizes.get(file.shard[0]) if file.shard else file.size
            fit = estimate_file_fit(file.filename, size, free_ram=free_ram, free_vram=free_vram, n_ctx=n_ctx)
            rows.append(FileRow(file, size, fit))
        return FileListing(listing, rows, free_ram, free_vram, n_ctx)

    def pull(self, repo_id: str, filename: str | None = None, *, revision: str | None = None,
             on_progress: ProgressCallback | None = None, cancelled: Callable[[], bool] | None = None,
             restart: bool = False, repair: bool = False) -> PullResult:
        """Download a model (a named file, or the best default) with its companions, verify it, register it.

        Nothing is registered unless every file arrived and matched its published checksum. ``restart``
        discards partial downloads first; ``repair`` downloads again a cached file that fails its checksum
        (without it, such a file is marked damaged in the registry and the pull stops with the reason).
        """
        revision = revision or "main"
        listing = self.hub.repo_files(repo_id, revision)
        wanted = _choose_files(listing, filename)
        if restart:
            self._discard_partials(repo_id, wanted, on_progress)
        self._check_total_space(repo_id, wanted)
        done = []
        for f in wanted:
            try:
                done.append(download_file(self.hub, repo_id, f.filename, revision=revision,
                                          cache_dir=self.cache_dir, expected_sha256=f.sha256,
                                          on_progress=on_progress, cancelled=cancelled, repair=repair))
            except CachedFileDamaged as damaged:
                self._mark_damaged(Path(damaged.pointer), damaged.message)
                raise
        primary = done[0]
        detected = detect_file(primary.path)
        if detected is None:
            raise ModelError(Reason.UNSUPPORTED, f"{primary.filename} was downloaded but is not a model file "
                                                 "the workbench recognizes; nothing was registered")
        model_files = [d for d in done if d.filename.endswith(Path(primary.filename).suffix)]
        hub_quant = wanted[0].quant
        stem = model_stem(Path(primary.filename))
        wanted_id = stem if detected.format == "gguf" or stem not in ("model", "pytorch_model") \
            else repo_id.split("/")[-1]
        record = ModelRecord(
            id=wanted_id, kind=detected.kind if detected.kind != "other" else _kind_from_hub(listing),
            format=detected.format, path=str(primary.path), source="hub",
            size_bytes=sum(d.size for d in model_files), sha256=primary.sha256,
            quant=detected.quant or hub_quant, repo=repo_id, filename=primary.filename,
            revision=primary.commit,
            meta={**detected.meta, "requested_revision": revision, "files": [d.filename for d in done]},
        )
        try:
            stored, created = self.registry.add(record)
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc):
                raise
            raise ModelError(Reason.DISK_SPACE, f"{primary.filename} is downloaded and verified but the "
                                                f"registry could not record it ({exc}): free some space and run "
                                                "the same pull again (nothing is downloaded again)") from exc
        return PullResult(stored, created, done)

    def _discard_partials(self, repo_id: str, files: list[HubFile], on_progress: ProgressCallback | None) -> None:
        # Before the space check, so the check counts the whole file again.
        blobs = repo_folder(self.cache_dir, repo_id) / "blobs"
        for file in files:
            partial = blobs / f"{file.sha256}.incomplete"
            if file.sha256 and partial.exists():
                size = partial.stat().st_size
                partial.unlink()
                if on_progress is not None:
                    on_progress(DownloadProgress(file.filename, "notice", 0, file.size, message=(
                        f"{file.filename}: discarded the partial download ({human_bytes(size)}); starting "
                        "from the first byte")))

    def _mark_damaged(self, pointer: Path, problem: str) -> None:
        # The registered path may name any file of the model (the first of a split one, say).
        for record in self.registry.list(include_starters=False):
            if record.source == "hub" and pointer in _files_of(record):
                self.registry.mark_damaged(record.path, problem.split(";")[0])

    def _check_total_space(self, repo_id: str, files: list[HubFile]) -> None:
        blobs = repo_folder(self.cache_dir, repo_id) / "blobs"
        needed = 0
        for file in files:
            have = 0
            if file.sha256:  # an LFS blob is named by its SHA-256: count what is already there
                for candidate in (blobs / file.sha256, blobs / f"{file.sha256}.incomplete"):
                    if candidate.exists():
                        have = max(have, candidate.stat().st_size)
            needed += max((file.size or 0) - have, 0)
        ensure_disk_space(self.cache_dir, needed, f"{repo_id} ({len(files)} file(s))")

    # --- the local registry -----------------------------------------------------------------------
    def list(self, kind: str | None = None) -> list[ModelRecord]:
        """Installed starter models and every registered model."""
        return self.registry.list(kind)

    def get(self, model_id: str) -> ModelRecord | None:
        """One model by id."""
        return self.registry.get(model_id)

    def health(self, record: ModelRecord, *, deep: bool = False) -> Health:
        """Whether the model's files are still whole (``deep``: re-hash them against the registered SHA-256).

        A deep check that finds damage records it, so later listings show it without hashing again.
        """
        health = check_record(record, deep=deep)
        if deep and health.status == "damaged" and not record.meta.get("damaged"):
            self.registry.mark_damaged(record.path, health.problem)
        return health

    def remove(self, model_id: str, *, delete_files: bool | None = None) -> RemoveResult:
        """Unregister a model; delete its files when the workbench downloaded them (or when asked, for files
        in the HF cache). Files of LM Studio, Ollama and imports are never deleted."""
        record = self.registry.get(model_id)
        if record is None:
            raise ModelError(Reason.NOT_FOUND, f"no registered model {model_id!r} (see: workbench models list)")
        delete = delete_files if delete_files is not None else record.source == "hub"
        if delete and record.source not in _DELETABLE:
            raise ModelError(Reason.BAD_INPUT, f"{record.id} belongs to {record.source}: the workbench only "
                                               "unregisters it (delete its files with the app that owns them)")
        self.registry.remove(record.id)
        if not delete:
            size = record.size_bytes or 0
            return RemoveResult(record, 0, [], f"unregistered only; {record.path} ({human_bytes(size)}) stays on "
                                               "disk")
        keep = {Path(r.path).resolve() for r in self.registry.list(include_starters=False) if r.path}
        freed, deleted = 0, []
        for pointer in _files_of(record):
            if pointer.is_symlink() or pointer.exists():
                freed += remove_snapshot_file(pointer, keep_blobs=keep)
                deleted.append(str(pointer))
        return RemoveResult(record, freed, deleted)

    def import_path(self, path: str | Path, *, kind: str | None = None, compute_sha256: bool = False,
                    on_progress: Callable[[str, int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> ImportReport:
        """Register a model file, or every model file in a folder, where it is."""
        return import_path(self.registry, path, kind=kind, compute_sha256=compute_sha256,
                           on_progress=on_progress, cancelled=cancelled)

    def scan(self, roots: ScanRoots | None = None) -> ImportReport:
        """Register models found in LM Studio's, Ollama's and the Hugging Face cache's folders."""
        return scan(self.registry, roots)


def _choose_files(listing: RepoFiles, filename: str | None) -> list[HubFile]:
    if filename is None:
        chosen = pick_default_files(listing.files)
    else:
        file = listing.get(filename)
        if file is None:
            models = sorted(f.filename for f in listing.files if f.is_model)
            hint = f"; it has: {', '.join(models[:12])}" if models else ""
            raise ModelError(Reason.NOT_FOUND, f"{listing.repo} has no file {filename!r}{hint}")
        chosen = [file]
        if file.shard is not None:
            chosen = [f for f in listing.files if f.shard and f.shard[0] == file.shard[0]]
        elif filename.endswith(".safetensors") and listing.get("config.json"):
            config = listing.get("config.json")
            assert config is not None
            chosen.append(config)
    # Split parts in order, the model file before its companions (config.json).
    return sorted(chosen, key=lambda f: (f.filename.endswith(".json"), f.shard[1] if f.shard else 0))


def _kind_from_hub(listing: RepoFiles) -> str:
    if listing.pipeline_tag == "image-classification" or listing.library == "timm":
        return "vision"
    return "other"


def _files_of(record: ModelRecord) -> list[Path]:
    pointer = Path(record.path)
    names = record.meta.get("files") if isinstance(record.meta.get("files"), list) else None
    if not names or not record.filename:
        return [pointer]
    # The snapshot folder is the pointer's path minus the repository file name.
    depth = len(Path(record.filename).parts)
    snapshot = pointer.parents[depth - 1]
    return [snapshot.joinpath(*Path(name).parts) for name in names]
