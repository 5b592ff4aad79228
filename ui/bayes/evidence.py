"""Evidence as the Bayes page holds it, and the dialog for soft (likelihood) evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)


@dataclass
class EvidenceSet:
    """Hard findings (node -> state) and soft ones (node -> likelihood per state); a node has one or the other."""

    hard: dict[str, str] = field(default_factory=dict)
    soft: dict[str, list[float]] = field(default_factory=dict)

    def toggle_hard(self, node: str, state: str) -> None:
        """Observe ``node = state``; clicking the observed state again removes the finding."""
        self.soft.pop(node, None)
        if self.hard.get(node) == state:
            del self.hard[node]
        else:
            self.hard[node] = state

    def set_soft(self, node: str, weights: Sequence[float]) -> None:
        """Likelihood evidence on ``node`` (replaces a hard finding)."""
        self.hard.pop(node, None)
        self.soft[node] = [float(w) for w in weights]

    def clear(self, node: str | None = None) -> None:
        """Remove the finding on ``node``, or every finding."""
        if node is None:
            self.hard.clear()
            self.soft.clear()
        else:
            self.hard.pop(node, None)
            self.soft.pop(node, None)

    def params(self) -> dict[str, Any]:
        """The engine's ``evidence`` / ``soft_evidence`` parameters (copies)."""
        return {"evidence": dict(self.hard), "soft_evidence": {k: list(v) for k, v in self.soft.items()}}

    def copy(self) -> EvidenceSet:
        """An independent copy."""
        return EvidenceSet(dict(self.hard), {k: list(v) for k, v in self.soft.items()})

    def __len__(self) -> int:
        return len(self.hard) + len(self.soft)

    def describe(self) -> str:
        """``A=s1, B~0.8:0.2`` for the status line."""
        items = [f"{k}={v}" for k, v in self.hard.items()]
        items += [f"{k}~{':'.join(f'{w:g}' for w in v)}" for k, v in self.soft.items()]
        return ", ".join(items) or "none"


class SoftEvidenceDialog(QDialog):
    """One weight per state; weights are likelihoods, so only their ratios matter."""

    def __init__(self, node: str, states: Sequence[str], current: Sequence[float] | None = None,
                 posterior: Sequence[float] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Soft evidence on {node}")
        layout = QVBoxLayout(self)
        note = QLabel("Give each state a likelihood weight: how much more likely the observation is if the "
                      "node is in that state. Only the ratios matter (0.8 / 0.2 is the same as 4 / 1); "
                      "a weight of 0 rules the state out.")
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QFormLayout()
        self.spins: list[QDoubleSpinBox] = []
        for index, state in enumerate(states):
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 1e6)
            spin.setDecimals(4)
            spin.setSingleStep(0.1)
            spin.setValue(float(current[index]) if current is not None and index < len(current) else 1.0)
            label = state if posterior is None or index >= len(posterior) else f"{state} (now {posterior[index]:.1%})"
            form.addRow(label, spin)
            self.spins.append(spin)
        layout.addLayout(form)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d64545;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def weights(self) -> list[float]:
        """The weights entered."""
        return [spin.value() for spin in self.spins]

    def _accept(self) -> None:
        if not any(w > 0 for w in self.weights()):
            self.error.setText("At least one state needs a weight above 0.")
            return
        self.accept()
