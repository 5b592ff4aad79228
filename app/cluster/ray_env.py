"""Ray as an optional dependency, and the settings every Ray process of ours starts with.

Ray is imported only inside functions, so the app runs without it; :func:`require_ray` turns its absence
into one clear message. Token authentication is always on: the token lives in the data folder (mode 0600)
and reaches Ray through ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH``.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from types import ModuleType

from core import paths

INSTALL_HINT = "pip install 'local-ai-workbench[cluster]'"
RAY_VERSION = "2.60.0"  # the pin of the `cluster` extra: every node must run the same Ray
DEFAULT_PORT = 6379
# Bounded so a node's object store never takes the memory a model needs (Ray's default is 30 % of RAM).
DEFAULT_OBJECT_STORE_BYTES = 512 * 2**20
NODE_RESOURCE_PREFIX = "workbench_node_"  # a custom resource that names the node: NODE in NODE/cpu
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class ClusterError(RuntimeError):
    """Something about the cluster (Ray missing, not connected, unknown node) stops the request."""


def require_ray() -> ModuleType:
    """The ``ray`` module, or a ClusterError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"Ray is not installed, so other machines cannot be used ({INSTALL_HINT})") from exc
    return ray


def ray_available() -> bool:
    """Whether Ray can be imported here (without importing it twice for nothing)."""
    try:
        require_ray()
    except ClusterError:
        return False
    return True


def valid_node_name(name: str) -> str:
    """``name`` if it can name a node (letters, digits, ``_`` and ``-``), else a ClusterError."""
    if not _NAME.match(name):
        raise ClusterError(f"node name {name!r}: use up to 40 letters, digits, '_' or '-' (no '/')")
    return name


def cluster_dir() -> Path:
    """The folder of the cluster settings (token, saved connection)."""
    folder = paths.home() / "cluster"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def token_path() -> Path:
    """Where this machine keeps the cluster's token."""
    return cluster_dir() / "auth_token"


def read_token() -> str | None:
    """The saved token, or None."""
    try:
        token = token_path().read_text().strip()
    except OSError:
        return None
    return token or None


def save_token(token: str) -> Path:
    """Store ``token`` readable by this user only; returns the file."""
    token = token.strip()
    if len(token) < 32 or any(c.isspace() for c in token):
        raise ClusterError("a cluster token is at least 32 characters without spaces "
                           "(`workbench cluster start-head` prints one)")
    path = token_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.chmod(path, 0o600)
    return path


def ensure_token() -> str:
    """The saved token, generating one (256 random bits, as Ray does) the first time."""
    token = read_token()
    if token is None:
        token = secrets.token_hex(32)
        save_token(token)
    return token


def auth_environment(token: str | None = None) -> dict[str, str]:
    """Environment variables that turn token auth on for a Ray process (CLI, driver, raylet)."""
    if token is not None:
        save_token(token)
    elif read_token() is None:
        raise ClusterError(f"no cluster token in {token_path()}: pass --token (the head printed it) "
                           "or run `workbench cluster start-head` on this machine")
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path()),
            # Ray's own usage statistics would phone home: never from the workbench.
            "RAY_USAGE_STATS_ENABLED": "0"}


def apply_auth_environment(token: str | None = None) -> None:
    """Set the auth variables in this process before ``ray.init`` (Ray reads them once, at start)."""
    env = auth_environment(token)
    # An inherited RAY_AUTH_TOKEN would win over the file: the file is the one source of truth.
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.update(env)
    _refresh_ray_auth()


def _refresh_ray_auth() -> None:
    # Ray caches its config and the token when it is imported; if it already was (the GUI probing
    # nodes, a test), make it read the new settings, as Ray's own ``ray.init`` does for a new cluster.
    import sys

    if "ray" not in sys.modules:
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # another Ray: it reads the environment at ray.init
        pass
