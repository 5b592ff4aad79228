"""Repository ids, revisions and repository file names from the Hub are data, never trusted as paths."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from app.models.errors import ModelError, Reason

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_RE = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_MAX_NAME = 1024


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` when it is a well-formed ``owner/name``; raise a bad-input error otherwise."""
    if not _REPO_RE.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise ModelError(Reason.BAD_INPUT, f"{repo_id!r} is not a Hugging Face repository id (owner/name)")
    return repo_id


def check_revision(revision: str) -> str:
    """Return ``revision`` (a branch, tag or commit) when it is safe to use in a cache path."""
    parts = revision.split("/")
    if not _REVISION_RE.match(revision) or any(part in ("", ".", "..") for part in parts):
        raise ModelError(Reason.BAD_INPUT, f"{revision!r} is not a valid revision (branch, tag or commit)")
    return revision


def safe_relative_name(name: str) -> PurePosixPath:
    """A repository file name as a relative path with no ``..``, no root, no drive and no odd characters."""
    problem = _name_problem(name)
    if problem:
        raise ModelError(Reason.BAD_INPUT, f"refusing repository file name {name!r}: {problem}")
    return PurePosixPath(name)


def _name_problem(name: str) -> str:
    if not name or len(name) > _MAX_NAME:
        return "empty or too long"
    if "\\" in name or any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        return "backslash or control character"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "empty, '.' or '..' path component"
    return ""


def join_inside(root: Path, name: str) -> Path:
    """``root / name`` after checking that the result stays inside ``root``."""
    relative = safe_relative_name(name)
    target = root.joinpath(*relative.parts)
    root_resolved = root.resolve()
    # resolve() follows existing symlinks: a planted link must not lead the write out of the folder either.
    parent = target.parent.resolve()
    if parent != root_resolved and root_resolved not in parent.parents:
        raise ModelError(Reason.BAD_INPUT, f"refusing repository file name {name!r}: it leaves {root}")
    return target
