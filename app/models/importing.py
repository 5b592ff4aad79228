"""``models import``: register model files or folders in place (no copy), recognized by content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.models.errors import ModelError, Reason
from app.models.formats import Detected, detect_file
from app.models.local_files import is_later_part, record_for, sha256_of, split_parts, walk_files
from app.models.quant import is_projector_name
from app.models.records import ModelRecord
from app.models.registry import Registry

KINDS = ("llm", "vision", "bayes", "other")
FORMATS_HELP = "GGUF, ONNX, safetensors, PyTorch .pth, BIF, XMLBIF, XDSL, Hugin NET, UAI, DSC or DNE"


@dataclass
class ImportReport:
    """What an import or scan registered, refreshed and skipped (with the reason)."""

    added: list[ModelRecord] = field(default_factory=list)
    updated: list[ModelRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def records(self) -> list[ModelRecord]:
        """Everything registered, new or not."""
        return self.added + self.updated


def import_path(registry: Registry, path: str | Path, *, kind: str | None = None, compute_sha256: bool = False,
                on_progress: Callable[[str, int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> ImportReport:
    """Register the model file at ``path``, or every model file under the folder ``path``."""
    if kind is not None and kind not in KINDS:
        raise ModelError(Reason.BAD_INPUT, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    target = Path(path).expanduser()
    if not target.exists():
        raise ModelError(Reason.NOT_FOUND, f"no such file or folder: {target}")
    report = ImportReport()
    if target.is_file():
        first = (split_parts(target) or [target])[0]
        detected = detect_file(first)
        if detected is None:
            raise ModelError(Reason.UNSUPPORTED, f"{target} is not a model file the workbench recognizes "
                                                 f"({FORMATS_HELP})")
        _register(registry, first, detected, kind, compute_sha256, on_progress, cancelled, report)
        return report
    for file in walk_files(target):
        if cancelled is not None and cancelled():
            raise ModelError(Reason.CANCELLED, "import cancelled")
        if is_later_part(file):
            continue
        try:
            detected = detect_file(file)
            if detected is None:
                looks_like = _model_suffix(file)
                if looks_like:
                    # Named like a model but not one: say so rather than leave the user wondering.
                    report.skipped.append((str(file), f"named like a {looks_like} file but its content is not "
                                                      f"one (nor any format the workbench reads: {FORMATS_HELP})"))
                continue
            _register(registry, file, detected, kind, compute_sha256, on_progress, cancelled, report)
        except ModelError as exc:
            if exc.reason is Reason.CANCELLED:
                raise
            report.skipped.append((str(file), exc.message))
    if not report.records and not report.skipped:
        raise ModelError(Reason.NOT_FOUND, f"no model files ({FORMATS_HELP}) under {target}")
    return report


def _register(registry: Registry, file: Path, detected: Detected, kind: str | None, compute_sha256: bool,
              on_progress: Callable[[str, int, int], None] | None, cancelled: Callable[[], bool] | None,
              report: ImportReport) -> None:
    if detected.format == "gguf" and is_projector_name(file.name):
        report.skipped.append((str(file), "a multimodal projector (mmproj), not a model on its own"))
        return
    starter = _starter_at(file)
    if starter is not None:
        report.skipped.append((str(file), f"already listed as the starter model {starter!r}"))
        return
    digest = None
    if compute_sha256:
        def progress(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(file.name, done, total)

        digest = sha256_of(file, on_progress=progress, cancelled=cancelled)
    record = record_for(file, detected, source="import", kind=kind, sha256=digest)
    stored, created = registry.add(record)
    (report.added if created else report.updated).append(stored)


# Suffixes that promise a model; a file with one that turns out not to be a model is reported as skipped.
_MODEL_SUFFIXES = {".gguf": "GGUF", ".safetensors": "safetensors", ".onnx": "ONNX", ".pt": "PyTorch",
                   ".pth": "PyTorch", ".ckpt": "PyTorch checkpoint", ".bin": "model weights", ".bif": "BIF",
                   ".xmlbif": "XMLBIF", ".xdsl": "XDSL", ".net": "Hugin NET", ".uai": "UAI", ".dsc": "DSC",
                   ".dne": "DNE"}


def _model_suffix(file: Path) -> str | None:
    name = file.name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return _MODEL_SUFFIXES.get(Path(name).suffix)


def _starter_at(file: Path) -> str | None:
    from app.models.starters import starter_records

    resolved = file.resolve()
    return next((r.id for r in starter_records() if r.path and Path(r.path).resolve() == resolved), None)
