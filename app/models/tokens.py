"""The user's Hugging Face token: stored owner-only next to the workbench data, never printed or logged."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from core import paths
from app.models.errors import ModelError, Reason

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-.]{8,512}$")


def token_path() -> Path:
    """Where the token lives (a file readable by its owner only)."""
    return paths.home() / "secrets" / "hf_token"


def save_token(token: str) -> Path:
    """Store ``token`` with mode 0600 in a 0700 folder; returns the file."""
    token = token.strip()
    if not _TOKEN_RE.match(token):
        raise ModelError(Reason.BAD_INPUT, "that does not look like a Hugging Face token "
                                           "(letters, digits, '_', '-' and '.', no spaces)")
    path = token_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: there is no moment when the secret is readable by others.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return path


def load_token() -> str | None:
    """The stored token, or None; a token file others can read is refused (and the user told how to fix)."""
    path = token_path()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
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
