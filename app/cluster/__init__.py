"""Other machines' devices through Ray Core (optional: ``pip install 'local-ai-workbench[cluster]'``).

The Qt-free API the model service, the device pickers and Settings use::

    connect(address, token)         # this process joins the cluster (address and token saved)
    nodes()                          # NodeRecord per live node: CPUs, GPUs, RAM, probed devices
    disconnect()
    is_remote_device("n1/cpu")       # True: NODE/<local id>
    start_remote_engine("llm", "n1/cpu", threads)   # a RemoteClient (WorkerClient's interface)

Nothing here imports Ray at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.cluster.connection import connect, connected, disconnect, saved_address
from app.cluster.inventory import NodeRecord, cluster_devices, split_device
from app.cluster.ray_env import ClusterError, ray_available

if TYPE_CHECKING:
    from app.cluster.remote_client import RemoteClient


def nodes(refresh: bool = False) -> list[NodeRecord]:
    """The live nodes with their probed devices (connecting with the saved address when needed)."""
    from app.cluster.inventory import live_nodes

    return live_nodes(with_devices=True, refresh=refresh)


def is_remote_device(device_id: str) -> bool:
    """True for ``NODE/<local id>`` device ids."""
    return split_device(device_id) is not None


def start_remote_engine(engine_id: str, device_id: str, threads: int | None = None) -> RemoteClient:
    """A :class:`app.cluster.remote_client.RemoteClient` on the node of ``device_id``."""
    from app.cluster.remote_client import start_remote_engine as start

    return start(engine_id, device_id, threads=threads)


__all__ = ["ClusterError", "NodeRecord", "cluster_devices", "connect", "connected", "disconnect",
           "is_remote_device", "nodes", "ray_available", "saved_address", "start_remote_engine"]
