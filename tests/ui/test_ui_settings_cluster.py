"""Settings' Cluster section with a real two-node Ray cluster on this machine: nodes listed, devices picked."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import make_context, wait_for
from PySide6.QtWidgets import QApplication

from ui.settings.cluster import ClusterBox, node_devices, node_rows
from ui.widgets.device_picker import DevicePicker

pytest.importorskip("ray")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A head ("n1") and a second node ("n2"), 1 CPU each, token auth on, in a data folder of its own."""
    from ray.cluster_utils import Cluster

    from app.cluster.connection import disconnect
    from app.cluster.ray_env import NODE_RESOURCE_PREFIX, apply_auth_environment, auth_environment

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))  # the saved address and token stay here
    for name in (*auth_environment(secrets.token_hex(32)), "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    apply_auth_environment()

    def node(name: str) -> dict[str, object]:
        return {"num_cpus": 1, "resources": {NODE_RESOURCE_PREFIX + name: 1}, "object_store_memory": 80 << 20,
                "include_dashboard": False}

    made = Cluster(initialize_head=True, connect=False, head_node_args=node("n1"))
    try:
        made.add_node(**node("n2"))
        made.wait_for_nodes()
        yield made.address
    finally:
        disconnect(forget=True)
        made.shutdown()


def test_connect_lists_the_nodes_and_their_devices_reach_the_pickers(qapp: QApplication, cluster: str,
                                                                      tmp_path: Path) -> None:
    context = make_context(tmp_path / "gui")
    box = ClusterBox(context)
    picker = DevicePicker(context, backends=None)
    try:
        box.address.setText(cluster)
        box.connect_cluster()
        wait_for(lambda: box.table.rowCount() == 2 and "connected" in box.status.text(), 240, "the nodes")
        names = {box.table.item(r, 0).text().split(" ")[0] for r in range(2)}
        assert names == {"n1", "n2"}
        assert {"n1/cpu", "n2/cpu"} <= set(picker.device_ids())
        rows = node_rows(box.nodes)
        assert all(float(r[2]) >= 1 for r in rows) and all("GiB" in r[4] for r in rows)
        assert {d.id for d in node_devices(box.nodes)} >= {"n1/cpu", "n2/cpu"}
        box.show_nodes([n for n in box.nodes if n.name == "n1"])  # n2 left
        assert "n2/cpu" not in picker.device_ids() and "n1/cpu" in picker.device_ids()
    finally:
        context.shutdown()
