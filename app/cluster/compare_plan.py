"""Comparisons across nodes: every node's devices planned like this machine's, fingerprinted on the node.

The runner plans this machine as before and adds :func:`node_configs`: each node's probe report goes
through the same per-engine ``supported_devices`` and workload planners, then each configuration's
device gets the node's prefix (``n2/cpu``), so its worker is started on that node (a ``/`` in the device
id means remote). Each node's machine fingerprint is taken on the node (``app.cluster.inventory``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from app.compare.plan import CompareSettings, Config, PlanError, build_plan


def node_configs(settings: CompareSettings) -> tuple[list[Config], dict[str, dict[str, Any]]]:
    """Configurations on the saved cluster's nodes and each node's machine fingerprint ([] without one)."""
    from app.cluster.inventory import saved_cluster_nodes

    if settings.devices is not None and not any("/" in d for d in settings.devices):
        return [], {}  # only this machine's devices were asked for
    nodes, _error = saved_cluster_nodes()
    return plan_nodes(settings, nodes)


def plan_nodes(settings: CompareSettings, nodes: list[Any]) -> tuple[list[Config], dict[str, dict[str, Any]]]:
    """Plan each node (a :class:`app.cluster.inventory.NodeRecord` with its probe report)."""
    from app.compare.runner import supported_devices

    plan: list[Config] = []
    machines: dict[str, dict[str, Any]] = {}
    for node in nodes:
        if not node.report:
            continue
        wanted = None if settings.devices is None else tuple(
            d.split("/", 1)[1] for d in settings.devices if d.startswith(node.name + "/"))
        if wanted == ():
            continue
        supported, _missing = supported_devices(node.report, settings.workloads)
        cpu = node.report.get("cpu") or {}
        try:
            cores, threads = int(cpu.get("physical_cores") or 1), int(cpu.get("default_threads") or 1)
            configs = build_plan(replace(settings, devices=wanted), supported, cores=cores, threads=threads)
        except PlanError:
            continue
        plan += [replace(c, device=f"{node.name}/{c.device}") for c in configs]
        machines[node.name] = dict(node.report.get("machine") or {})
    return plan, machines


def node_of(device: str) -> str | None:
    """The node name of a cluster device id, None for this machine's devices."""
    node, sep, _local = device.partition("/")
    return node if sep else None


def plan_with_nodes(settings: CompareSettings, plan_here: Callable[[], list[Config]]
                    ) -> tuple[list[Config], dict[str, dict[str, Any]]]:
    """This machine's plan followed by the nodes' (a PlanError only when neither has anything to run)."""
    try:
        plan = plan_here()
    except PlanError:
        plan = []
        remote, machines = node_configs(settings)
        if not remote:
            raise
        return remote, machines
    remote, machines = node_configs(settings)
    return plan + remote, machines


def node_flag(device: str, machines: Mapping[str, Mapping[str, Any]]) -> tuple[str, str] | None:
    """The (code, message) of the info flag naming the node and its machine fingerprint, for a node's row."""
    node = node_of(device)
    if node is None:
        return None
    fingerprint = machines.get(node) or {}
    cpu = fingerprint.get("cpu") or {}
    return "node", (f"measured on node {node} ({cpu.get('model', 'unknown CPU')}; machine fingerprint "
                    f"{fingerprint.get('id', '?')}, stored in the session's meta.machines)")
