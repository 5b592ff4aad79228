"""Joining a Ray cluster: start a head or a node (``ray start`` with our defaults) and connect to it.

The connection is per process; the address and token are saved (data folder, ``cluster/``) so every later
``workbench`` command and the app reconnect by themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from app.cluster.ray_env import (
    DEFAULT_OBJECT_STORE_BYTES,
    DEFAULT_PORT,
    NODE_RESOURCE_PREFIX,
    ClusterError,
    apply_auth_environment,
    auth_environment,
    cluster_dir,
    ensure_token,
    require_ray,
    valid_node_name,
)

_lock = threading.Lock()
_connected_address: str | None = None


def saved_address_path() -> Path:
    """The file holding the address of the cluster this machine last connected to."""
    return cluster_dir() / "connection.json"


def saved_address() -> str | None:
    """The saved cluster address, or None when this machine is not set up to use one."""
    try:
        data = json.loads(saved_address_path().read_text())
    except (OSError, ValueError):
        return None
    address = data.get("address")
    return str(address) if address else None


def connect(address: str | None = None, token: str | None = None, *, save: bool = True) -> str:
    """Connect this process to the cluster at ``address`` (default: the saved one); returns the address.

    ``token`` (saved for next time) or the saved token authenticates; a wrong or missing token fails here.
    """
    global _connected_address
    ray = require_ray()
    address = address or saved_address()
    if not address:
        raise ClusterError("no cluster address: run `workbench cluster connect HOST:PORT` "
                           "(or `workbench cluster start-head` on this machine)")
    with _lock:
        if ray.is_initialized() and _connected_address == address:
            return address
        _check_reachable(address)  # before leaving the cluster this process may be connected to
        if ray.is_initialized():
            ray.shutdown()
            _connected_address = None
        apply_auth_environment(token)
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING",
                     log_to_driver=False, configure_logging=True)
        except Exception as exc:  # Ray raises ConnectionError, AuthenticationError, RuntimeError...
            raise ClusterError(f"cannot connect to the cluster at {address}: {type(exc).__name__}: "
                               f"{str(exc).strip()[:600]}") from exc
        _connected_address = address
    if save:
        saved_address_path().write_text(json.dumps({"address": address}))
    return address


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    # Ray retries a head that is not there for about 20 s; a closed port is known at once.
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or address.startswith("ray://"):
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterError(f"no cluster answers at {address} ({exc.strerror or exc}); is the head running "
                           "(`workbench cluster start-head`) and the port open?") from exc


def connected() -> bool:
    """Whether this process is connected to a cluster."""
    if _connected_address is None:
        return False
    ray = require_ray()
    return bool(ray.is_initialized())


def ensure_connected() -> None:
    """Connect with the saved address when not connected yet (a ClusterError when there is none)."""
    if not connected():
        connect(save=False)


def disconnect(*, forget: bool = False) -> None:
    """Leave the cluster (this process only); ``forget`` also drops the saved address."""
    global _connected_address
    with _lock:
        if _connected_address is not None:
            import ray

            ray.shutdown()
            _connected_address = None
    if forget:
        saved_address_path().unlink(missing_ok=True)


def _ray_cli() -> str:
    # The `ray` script installed beside this interpreter, so head and nodes run this venv's Ray.
    candidate = Path(sys.executable).with_name("ray")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ray")
    if found is None:
        require_ray()
        raise ClusterError("the `ray` command is missing from this environment")
    return found


def start_args(*, head: bool, address: str | None, name: str, bind: str, port: int, num_cpus: int | None,
               num_gpus: int | None, object_store_bytes: int) -> list[str]:
    """The ``ray start`` command line with the workbench defaults."""
    args = [_ray_cli(), "start", "--disable-usage-stats", f"--node-ip-address={bind}",
            f"--object-store-memory={object_store_bytes}",
            "--resources=" + json.dumps({NODE_RESOURCE_PREFIX + valid_node_name(name): 1})]
    if head:
        args += ["--head", f"--port={port}", "--include-dashboard=false"]
    else:
        args += [f"--address={address}"]
    if num_cpus is not None:
        args.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        args.append(f"--num-gpus={num_gpus}")
    return args


def start_node(*, head: bool, address: str | None = None, name: str | None = None, bind: str = "127.0.0.1",
               port: int = DEFAULT_PORT, token: str | None = None, num_cpus: int | None = None,
               num_gpus: int | None = None, object_store_bytes: int = DEFAULT_OBJECT_STORE_BYTES,
               timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``ray start`` (head, or a node joining ``address``) with token auth on; returns its output."""
    import socket

    if head and token is None:
        ensure_token()
    name = name or socket.gethostname().split(".")[0]
    env = {**os.environ, **auth_environment(token)}
    env.pop("RAY_AUTH_TOKEN", None)
    args = start_args(head=head, address=address, name=name, bind=bind, port=port, num_cpus=num_cpus,
                      num_gpus=num_gpus, object_store_bytes=object_store_bytes)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ClusterError(f"`ray start` failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")
    if head:
        saved_address_path().write_text(json.dumps({"address": f"{bind}:{port}"}))
    return done


def stop_node(timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``ray stop``: end the Ray processes this machine started."""
    return subprocess.run([_ray_cli(), "stop"], capture_output=True, text=True, timeout=timeout, check=False)


def cluster_summary() -> dict[str, Any]:
    """Total and available resources of the connected cluster."""
    ray = require_ray()
    ensure_connected()
    return {"address": _connected_address, "resources": dict(ray.cluster_resources()),
            "available": dict(ray.available_resources())}
