"""``models scan``: find models other apps already keep on disk and register them in place (no copy).

* LM Studio: ``~/.lmstudio/models`` and ``~/.cache/lm-studio/models`` (``publisher/repo/file.gguf``).
* Ollama: ``$OLLAMA_MODELS`` or ``~/.ollama/models``: manifests name the GGUF blob of each ``model:tag``.
* The Hugging Face cache (``$HF_HUB_CACHE``): GGUF files and vision checkpoints in snapshots.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.models.errors import ModelError
from app.models.formats import Detected, detect_file, read_json
from app.models.importing import ImportReport
from app.models.local_files import is_later_part, record_for
from app.models.quant import is_projector_name
from app.models.records import ModelRecord
from app.models.registry import Registry

_OLLAMA_MODEL_MEDIA = "application/vnd.ollama.image.model"
_OLLAMA_DEFAULT_HOST = "registry.ollama.ai"
_DIGEST_RE = re.compile(r"^sha256[:-]([0-9a-f]{64})$")


@dataclass(frozen=True)
class ScanRoots:
    """Where to look; a missing folder is simply skipped."""

    lmstudio: tuple[Path, ...]
    ollama: Path | None
    hf_cache: Path | None


def default_roots() -> ScanRoots:
    """The folders LM Studio, Ollama and huggingface_hub use by default on this machine."""
    from app.models.hf_cache import default_cache_dir

    home = Path.home()
    ollama = os.environ.get("OLLAMA_MODELS")
    return ScanRoots(
        lmstudio=(home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"),
        ollama=Path(ollama) if ollama else home / ".ollama" / "models",
        hf_cache=default_cache_dir(),
    )


def scan(registry: Registry, roots: ScanRoots | None = None) -> ImportReport:
    """Register every model found under ``roots``; models registered before are left as they are."""
    roots = roots or default_roots()
    report = ImportReport()
    for root in roots.lmstudio:
        if root.is_dir():
            _scan_lmstudio(registry, root, report)
    if roots.ollama is not None and (roots.ollama / "manifests").is_dir():
        _scan_ollama(registry, roots.ollama, report)
    if roots.hf_cache is not None and roots.hf_cache.is_dir():
        _scan_hf_cache(registry, roots.hf_cache, report)
    return report


def _add(registry: Registry, record: ModelRecord, report: ImportReport) -> None:
    stored, created = registry.add(record, refresh=False)
    (report.added if created else report.updated).append(stored)


def _scan_lmstudio(registry: Registry, root: Path, report: ImportReport) -> None:
    for file in sorted(root.rglob("*.gguf")):
        if is_later_part(file) or is_projector_name(file.name) or any(p.startswith(".") for p in file.parts):
            continue
        relative = file.relative_to(root).parts
        repo = "/".join(relative[:2]) if len(relative) >= 3 else None
        try:
            detected = detect_file(file)
            if detected is not None:
                _add(registry, record_for(file, detected, source="lmstudio", repo=repo), report)
        except ModelError as exc:
            report.skipped.append((str(file), exc.message))


def _scan_ollama(registry: Registry, root: Path, report: ImportReport) -> None:
    manifests = root / "manifests"
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        parts = manifest.relative_to(manifests).parts
        if len(parts) != 4:  # host/namespace/model/tag
            continue
        try:
            _scan_ollama_manifest(registry, root, manifest, parts, report)
        except ModelError as exc:
            report.skipped.append((str(manifest), exc.message))


def _scan_ollama_manifest(registry: Registry, root: Path, manifest: Path, parts: tuple[str, ...],
                          report: ImportReport) -> None:
    host, namespace, model, tag = parts
    name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    if host != _OLLAMA_DEFAULT_HOST:
        name = f"{host}/{name}"
    data = read_json(manifest)
    if not isinstance(data, dict):
        report.skipped.append((str(manifest), "not a JSON manifest"))
        return
    layers = [layer for layer in data.get("layers") or [] if isinstance(layer, dict)]
    model_layers = [layer for layer in layers if layer.get("mediaType") == _OLLAMA_MODEL_MEDIA]
    if not model_layers:
        report.skipped.append((str(manifest), f"{name} has no model layer"))
        return
    blob, digest = _ollama_blob(root, str(model_layers[0].get("digest", "")))
    if blob is None:
        report.skipped.append((str(manifest), f"the model blob of {name} is missing"))
        return
    detected = detect_file(blob)
    if detected is None or detected.format != "gguf":
        report.skipped.append((str(blob), f"{name} is not a GGUF model"))
        return
    config = _ollama_config(root, data.get("config"))
    quant = detected.quant or (str(config["file_type"]) if config.get("file_type") else None)
    meta = {"ollama_name": name, "family": config.get("model_family")}
    detected = Detected(detected.kind, detected.format, quant, detected.meta)
    record = record_for(blob, detected, source="ollama", repo=name, sha256=digest,
                        model_id=f"ollama-{model}-{tag}", meta={k: v for k, v in meta.items() if v})
    _add(registry, record, report)


def _ollama_blob(root: Path, digest: str) -> tuple[Path | None, str | None]:
    match = _DIGEST_RE.match(digest)
    if match is None:
        return None, None
    hex_digest = match.group(1)
    for name in (f"sha256-{hex_digest}", f"sha256:{hex_digest}"):
        candidate = root / "blobs" / name
        if candidate.is_file():
            return candidate, hex_digest
    return None, hex_digest


def _ollama_config(root: Path, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {}
    blob, _ = _ollama_blob(root, str(config.get("digest", "")))
    if blob is None or blob.stat().st_size > 1024 * 1024:
        return {}
    data = read_json(blob)
    return data if isinstance(data, dict) else {}


def _scan_hf_cache(registry: Registry, cache: Path, report: ImportReport) -> None:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return
    for warning in info.warnings:
        report.skipped.append((str(cache), str(warning)))
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        seen_blobs: set[Path] = set()
        # Newest revision first: a file kept in several snapshots is registered once, at its latest commit.
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            for cached in sorted(revision.files, key=lambda f: f.file_name):
                path = Path(cached.file_path)
                if cached.blob_path in seen_blobs or is_later_part(path) or is_projector_name(path.name):
                    continue
                seen_blobs.add(cached.blob_path)
                try:
                    detected = detect_file(path)
                except ModelError as exc:
                    report.skipped.append((str(path), exc.message))
                    continue
                if detected is None or not (detected.format == "gguf" or detected.kind == "vision"):
                    continue
                filename = str(path.relative_to(revision.snapshot_path))
                record = record_for(path, detected, source="hf-cache", repo=repo.repo_id,
                                    sha256=_lfs_sha256(cached.blob_path))
                _add(registry, replace(record, filename=filename, revision=revision.commit_hash), report)


def _lfs_sha256(blob: Path) -> str | None:
    # LFS blobs are named by their SHA-256; small git files by a 40-hex SHA-1.
    return blob.name if re.fullmatch(r"[0-9a-f]{64}", blob.name) else None
