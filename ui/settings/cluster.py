"""Settings' Cluster section: join a Ray cluster, see its nodes and put their devices in every picker."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from ui.context import AppContext
from ui.widgets.readonly_table import readonly_table, set_cells

COLUMNS = ("node", "address", "CPUs", "GPUs", "RAM", "devices")
REFRESH_MS = 30_000  # a node that leaves drops out of the pickers within this


def node_rows(nodes: list[Any]) -> list[tuple[str, ...]]:
    """Table rows of :class:`app.cluster.NodeRecord` objects."""
    return [(n.name + (" (head)" if n.is_head else ""), n.address, f"{n.cpus:g}", f"{n.gpus:g}",
             f"{n.memory_bytes / 2**30:.1f} GiB", ", ".join(n.device_ids()) or (n.probe_error or "probing…"))
            for n in nodes]


def node_devices(nodes: list[Any]) -> list[Any]:
    """Every node's devices as pickable devices with cluster ids (``NODE/cpu`` ...)."""
    from app.devices import devices_from_json

    found = []
    for node in nodes:
        for device in devices_from_json(list(node.devices)):
            found.append(dataclasses.replace(device, id=f"{node.name}/{device.id}",
                                             name=f"{device.name} on {node.name}"))
    return found


class ClusterBox(QGroupBox):
    """Address and token, Connect / Disconnect, the nodes with their CPUs, GPUs, RAM and devices."""

    def __init__(self, context: AppContext) -> None:
        super().__init__("Cluster (other machines through Ray)")
        self.context = context
        self.address = QLineEdit()
        self.address.setPlaceholderText("head address, e.g. 192.168.1.20:6379 (workbench cluster start-head)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("the cluster's token (blank: the one saved in the data folder)")
        self.connect_button = QPushButton("Connect")
        self.disconnect_button = QPushButton("Disconnect")
        self.refresh_button = QPushButton("Refresh")
        self.table = readonly_table(COLUMNS)
        self.table.setMinimumHeight(90)
        self.status = QLabel("Not connected. Other machines join with `workbench cluster join ADDRESS` "
                             "(docs/cluster.md).")
        self.status.setWordWrap(True)
        self.status.setObjectName("muted")
        row = QHBoxLayout()
        row.addWidget(self.address, 2)
        row.addWidget(self.token, 1)
        for button in (self.connect_button, self.refresh_button, self.disconnect_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        self.connect_button.clicked.connect(self.connect_cluster)
        self.refresh_button.clicked.connect(self.refresh)
        self.disconnect_button.clicked.connect(self.disconnect_cluster)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._busy = False
        self.nodes: list[Any] = []
        self._set_connected(False)
        context.tasks.run(lambda _s: _saved_address(), on_done=self._saved)

    def _saved(self, address: str | None) -> None:
        if address and not self.address.text():
            self.address.setText(address)

    def _set_connected(self, connected: bool) -> None:
        self.disconnect_button.setEnabled(connected)
        self.refresh_button.setEnabled(connected)
        if connected:
            self._timer.start()
        else:
            self._timer.stop()

    def connect_cluster(self) -> None:
        """Join the cluster at the address (in the background) and list its nodes."""
        address, token = self.address.text().strip() or None, self.token.text().strip() or None
        self.status.setText(f"connecting to {address or 'the saved cluster'}…")

        def work(_state: Any) -> list[Any]:
            from app.cluster import connect, nodes

            connect(address, token)
            return nodes(refresh=True)

        self._run(work)

    def refresh(self) -> None:
        """List the live nodes again (a node that left drops out of the pickers)."""
        def work(_state: Any) -> list[Any]:
            from app.cluster import nodes

            return nodes()

        self._run(work)

    def disconnect_cluster(self) -> None:
        """Leave the cluster; its devices leave the pickers."""
        def work(_state: Any) -> list[Any]:
            from app.cluster import disconnect

            disconnect()
            return []

        self._run(work, connected=False)

    def _run(self, work: Any, connected: bool = True) -> None:
        if self._busy:
            return
        self._busy = True

        def done(nodes: list[Any]) -> None:
            self._busy = False
            self.show_nodes(nodes)
            self._set_connected(connected and bool(nodes))
            if connected:
                alive = sum(1 for n in nodes if n.alive)
                self.status.setText(f"connected: {alive} node(s); their devices are in every device list")
            else:
                self.status.setText("disconnected")

        def failed(message: str, _tb: str) -> None:
            self._busy = False
            self.status.setText(f"cluster: {message}")

        self.context.tasks.run(work, on_done=done, on_error=failed)

    def show_nodes(self, nodes: list[Any]) -> None:
        """Fill the table and hand the nodes' devices to the device pickers."""
        self.nodes = list(nodes)
        rows = node_rows(self.nodes)
        set_cells(self.table, rows)
        self.context.set_cluster_devices(node_devices([n for n in self.nodes if n.alive]))


def _saved_address() -> str | None:
    from app.cluster import saved_address

    return saved_address()
