"""The user's Hugging Face token: stored owner-only next to the workbench data, never printed or logged."""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from app.models.errors import ModelError, Reason
from core import paths

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-.]{8,512}$")


def token_path() -> Path:
    """Where the token lives (a file readable by its owner only)."""
    return paths.home() / "secrets" / "hf_token"


def save_token(token: str) -> Path:
    """Store ``token`` with mode 0600 in a 0700 folder; returns the file.

    Nothing planted in the folder is followed: the folder itself must be a real directory owned by the user,
    the new file is created under a fresh name with ``O_EXCL | O_NOFOLLOW`` and renamed over the old one.
    """
    token = token.strip()
    if not _TOKEN_RE.match(token):
        raise ModelError(Reason.BAD_INPUT, "that does not look like a Hugging Face token "
                                           "(letters, digits, '_', '-' and '.', no spaces)")
    path = token_path()
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_folder(folder)
    os.chmod(folder, 0o700, follow_symlinks=False)
    temporary = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # Created 0600 from the start: there is no moment when the secret is readable by others.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    # rename() replaces the directory entry itself: a symlink planted at the final name is not followed.
    os.replace(temporary, path)
    return path


def _check_folder(folder: Path) -> None:
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ModelError(Reason.AUTH, f"{folder} is not a plain folder (a symlink or a file); the token is not "
                                      "stored there: remove it and run the command again")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ModelError(Reason.AUTH, f"{folder} belongs to another user; the token is not stored there")


def load_token() -> str | None:
    """The stored token, or None; a token file others can read is refused (and the user told how to fix)."""
    path = token_path()
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        raise ModelError(Reason.AUTH, f"{path} is a symlink, not the file the workbench wrote; remove it and "
                                      "run: workbench models token set")
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ModelError(Reason.AUTH, f"{path} can be read by other users; run: chmod 600 {path} "
                                      "(or: workbench models token set)")
    token = path.read_text(encoding="ascii").strip()
    return token or None


def clear_token() -> bool:
    """Delete the stored token; True if there was one."""
    try:
        token_path().unlink()
    except FileNotFoundError:
        return False
    return True


def mask(token: str | None) -> str:
    """A token as it may be shown: its first 3 and last 2 characters."""
    if not token:
        return "(none)"
    return f"{token[:3]}…{token[-2:]}" if len(token) > 8 else "…"
