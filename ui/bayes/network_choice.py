"""The Bayes page's network list: shipped networks, opened files, the combo box that shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget

NETWORK_FILTER = "Bayesian networks (*.bif *.bif.gz *.xmlbif *.xml *.xdsl *.net *.uai);;All files (*)"
_KEY = "bayes/"


def networks_folder() -> Path:
    """Where the shipped networks are (the bayes engine's catalogue reads the same folder)."""
    return Path(__file__).resolve().parents[2] / "resources" / "networks"


def list_shipped_networks(_state: Any = None) -> list[str]:
    """Names of the shipped network files (background work: it reads a folder)."""
    return sorted(p.name.removesuffix(".bif.gz") for p in networks_folder().glob("*.bif.gz"))


class NetworkChoice(QWidget):
    """Mixed into :class:`ui.bayes.page.BayesPage`, which provides the combo box and ``load_network``."""

    context: Any
    network: str
    network_combo: Any
    _closed: bool

    def load_network(self, network: str) -> None:
        """Provided by BayesPage."""
        raise NotImplementedError

    def _networks_listed(self, names: list[str]) -> None:
        if self._closed:
            return
        current = self.network
        self.network_combo.blockSignals(True)
        for name in names:
            if self.network_combo.findText(name) < 0:
                self.network_combo.addItem(name, name)
        self.network_combo.blockSignals(False)
        self._select_in_combo(current)

    def _select_in_combo(self, network: str) -> None:
        label = Path(network).name if Path(network).suffix else network
        index = self.network_combo.findData(network)
        if index < 0:
            self.network_combo.addItem(label, network)
            self.network_combo.setItemData(self.network_combo.count() - 1, network, Qt.ItemDataRole.ToolTipRole)
            index = self.network_combo.count() - 1
        self.network_combo.blockSignals(True)
        self.network_combo.setCurrentIndex(index)
        self.network_combo.blockSignals(False)

    def _network_chosen(self, index: int) -> None:
        network = self.network_combo.itemData(index)
        if network and network != self.network:
            self.load_network(str(network))

    def _open_file(self) -> None:
        folder = str(self.context.settings.value(_KEY + "last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open a Bayesian network", folder, NETWORK_FILTER)
        if path:
            self.context.settings.setValue(_KEY + "last_dir", str(Path(path).parent))
            self.load_network(path)
