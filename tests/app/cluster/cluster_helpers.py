"""Helpers for the cluster tests (importable by test modules, unlike conftest)."""

from __future__ import annotations

from typing import Any

OBJECT_STORE_BYTES = 100 * 2**20  # the smallest store Ray accepts is 75 MiB: keep every node light


def node_args(name: str) -> dict[str, Any]:
    """``Cluster.add_node`` arguments for a 1-CPU node called ``name``."""
    from app.cluster.ray_env import NODE_RESOURCE_PREFIX

    return {"num_cpus": 1, "resources": {NODE_RESOURCE_PREFIX + name: 1}, "object_store_memory": OBJECT_STORE_BYTES,
            "include_dashboard": False}
