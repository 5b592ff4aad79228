"""The cluster's nodes: their names, CPUs/GPUs/RAM, and the devices probed on each node itself.

A node is named by its ``workbench_node_<NAME>`` custom resource (``cluster start-head/join --name``),
else by its host name (made unique with the node id when hosts repeat). Its devices are
``NAME/<local id>``: ``n1/cpu``, ``gpu-box/cuda:0``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cluster.connection import ensure_connected
from app.cluster.ray_env import NODE_RESOURCE_PREFIX, ClusterError, require_ray

PROBE_TIMEOUT_S = 180.0
_probe_cache: dict[str, dict[str, Any]] = {}
_probe_lock = threading.Lock()


@dataclass(frozen=True)
class NodeRecord:
    """One node as the GUI and CLI show it."""

    name: str
    node_id: str
    address: str
    hostname: str
    alive: bool
    is_head: bool
    cpus: float
    gpus: float
    memory_bytes: int
    object_store_bytes: int
    resources: Mapping[str, float] = field(default_factory=dict)
    devices: tuple[Mapping[str, Any], ...] = ()  # probed on the node: app.devices' Device as dicts
    report: Mapping[str, Any] = field(default_factory=dict)  # the node's full probe report (CPU, versions)
    probe_error: str = ""

    def device_ids(self) -> list[str]:
        """The node's devices as cluster device ids (``NAME/cpu`` ...)."""
        return [f"{self.name}/{d['id']}" for d in self.devices]


def split_device(device_id: str) -> tuple[str, str] | None:
    """``("n1", "cpu")`` for ``"n1/cpu"``; None for a local device id (local ids never hold a '/')."""
    node, sep, local = device_id.partition("/")
    if not sep or not node or not local:
        return None
    return node, local


def _name_of(node: Mapping[str, Any]) -> str | None:
    for key in node.get("Resources", {}):
        if key.startswith(NODE_RESOURCE_PREFIX):
            return str(key[len(NODE_RESOURCE_PREFIX):])
    return None


def _raw_nodes() -> list[dict[str, Any]]:
    ray = require_ray()
    ensure_connected()
    return [dict(n) for n in ray.nodes()]


def live_nodes(with_devices: bool = False, refresh: bool = False) -> list[NodeRecord]:
    """The nodes that are up, head first; ``with_devices`` probes each (once, cached) on the node."""
    raw = [n for n in _raw_nodes() if n.get("Alive")]
    names: dict[str, str] = {}
    hosts = [str(n.get("NodeManagerHostname", "")) for n in raw]
    for node, host in zip(raw, hosts, strict=True):
        explicit = _name_of(node)
        short = host.split(".")[0] or "node"
        names[node["NodeID"]] = explicit or (short if hosts.count(host) == 1 else f"{short}-{node['NodeID'][:6]}")
    head_id = _head_node_id(raw)
    records = []
    for node in raw:
        resources = {str(k): float(v) for k, v in node.get("Resources", {}).items()}
        report: Mapping[str, Any] = {}
        error = ""
        if with_devices:
            try:
                report = probe_node(node["NodeID"], refresh=refresh)
            except ClusterError as exc:
                error = str(exc)
        records.append(NodeRecord(
            name=names[node["NodeID"]], node_id=node["NodeID"], address=str(node.get("NodeManagerAddress", "")),
            hostname=str(node.get("NodeManagerHostname", "")), alive=True, is_head=node["NodeID"] == head_id,
            cpus=resources.get("CPU", 0.0), gpus=resources.get("GPU", 0.0),
            memory_bytes=int(report.get("cpu", {}).get("ram_bytes") or resources.get("memory", 0.0)),
            object_store_bytes=int(resources.get("object_store_memory", 0.0)), resources=resources,
            devices=tuple(report.get("devices") or ()), report=report, probe_error=error))
    records.sort(key=lambda r: (not r.is_head, r.name))
    return records


def _head_node_id(raw: list[dict[str, Any]]) -> str | None:
    for node in raw:
        if any(k.startswith("node:__internal_head__") for k in node.get("Resources", {})):
            return str(node["NodeID"])
    return None


def find_node(name: str) -> NodeRecord:
    """The live node called ``name``; a ClusterError naming the known nodes otherwise."""
    nodes = live_nodes()
    for node in nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in nodes) or "none"
    raise ClusterError(f"no node named {name!r} in the cluster (nodes up: {known})")


def _probe_on_node() -> dict[str, Any]:
    # Runs on the node, in a Ray worker: the node's own libraries decide what it offers.
    import ray

    from app.compare.machine import machine_fingerprint
    from app.devices import probe_devices, report_to_json

    report = dict(report_to_json(probe_devices(with_report=True)))
    report["probed_on"] = ray.get_runtime_context().get_node_id()
    # Fingerprinted here: host, Python and thread settings are the node's, not the desktop's.
    report["machine"] = machine_fingerprint(report)
    return report


def probe_node(node_id: str, refresh: bool = False, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The device probe report of one node, run on that node (cached per node for this process)."""
    ray = require_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    with _probe_lock:
        if not refresh and node_id in _probe_cache:
            return _probe_cache[node_id]
    saved = _probe_file(node_id)
    if not refresh and saved.exists():
        # A node id lives as long as that node's Ray processes: the probe stays true until it restarts.
        try:
            report: dict[str, Any] = json.loads(saved.read_text())
            with _probe_lock:
                _probe_cache[node_id] = report
            return report
        except (OSError, ValueError):
            pass
    ensure_connected()
    task = ray.remote(_probe_on_node).options(
        num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        # Importing torch/ONNX Runtime must not spin threads on a node that runs a model.
        runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}})
    try:
        report = ray.get(task.remote(), timeout=timeout)
    except Exception as exc:
        raise ClusterError(f"probing node {node_id[:8]} failed: {type(exc).__name__}: {str(exc)[:400]}") from exc
    with _probe_lock:
        _probe_cache[node_id] = report
    with contextlib.suppress(OSError):
        saved.write_text(json.dumps(report, default=str))
    return report


def _probe_file(node_id: str) -> Path:
    from app.cluster.ray_env import cluster_dir

    folder = cluster_dir() / "probes"
    folder.mkdir(exist_ok=True)
    return folder / f"{node_id}.json"


def cluster_devices() -> list[str]:
    """Every node's devices as cluster device ids, head first."""
    return [device for node in live_nodes(with_devices=True) for device in node.device_ids()]


def device_rows(nodes: list[NodeRecord]) -> list[tuple[str, ...]]:
    """Table rows (id, kind, backend, name, vendor, memory) of every node's devices, for ``devices``."""
    from app.text_table import human_bytes

    return [(f"{n.name}/{d['id']}", str(d.get("kind", "")), str(d.get("backend", "")), str(d.get("name", "")),
             str(d.get("vendor", "")), human_bytes(int(d["memory_bytes"])) if d.get("memory_bytes") else "-")
            for n in nodes for d in n.devices]


def saved_cluster_nodes() -> tuple[list[NodeRecord], str]:
    """The cluster's nodes (this process's connection, else the saved one) with their devices; ([], why not)."""
    from app.cluster.connection import connected, saved_address
    from app.cluster.ray_env import ray_available

    # Cheap checks first: without a saved or live connection Ray is not even imported.
    if (saved_address() is None and not connected()) or not ray_available():
        return [], ""
    try:
        return live_nodes(with_devices=True), ""
    except ClusterError as exc:
        return [], str(exc)
