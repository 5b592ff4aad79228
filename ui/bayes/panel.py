"""The Bayes page's side panel: query facts and timing, junction-tree statistics, MPE/MAP and VOI ranking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.engine_types import QueryResult


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _ms(seconds: Any) -> str:
    return f"{float(seconds) * 1000:.1f} ms" if isinstance(seconds, int | float) else "?"


def tree_html(info: Mapping[str, Any]) -> str:
    """Network size, junction-tree shape and the predicted cost of one exact query."""
    tree = info.get("junction_tree") or {}
    cost = info.get("predicted_cost") or {}
    metrics = info.get("metrics") or {}
    rows = [
        ("network", f"{info.get('network', '?')}: {info.get('nodes', '?')} nodes, {info.get('edges', '?')} arcs, "
                    f"{info.get('states', '?')} states, {int(info.get('cpt_entries', 0)):,} CPT entries"),
        ("cliques", f"{tree.get('cliques', '?')} (treewidth {tree.get('treewidth', '?')}, "
                    f"{tree.get('heuristic', '?')} triangulation)"),
        ("largest clique", f"{int(tree.get('largest_clique_entries', 0)):,} entries: "
                           + ", ".join(tree.get("largest_clique") or [])),
        ("all tables", f"{int(tree.get('total_entries', 0)):,} entries, {_bytes(float(cost.get('bytes', 0)))} "
                       "with working copies"),
        ("cost per query", f"{int(cost.get('multiply_adds_per_query', 0)):,} multiply-adds"),
        ("state space", f"10^{float(cost.get('log10_state_space', 0)):.1f} joint states"),
        ("load", f"parse {_ms(metrics.get('parse_s'))}, triangulate {_ms(metrics.get('triangulate_s'))}, "
                 f"compile {_ms(metrics.get('compile_s'))}"),
    ]
    if info.get("backend"):
        rows.append(("backend", f"{info.get('backend')} on {info.get('device', 'cpu')}"))
    html = "<table cellspacing='0'>" + "".join(
        f"<tr><td style='padding-right:8px'><b>{escape(k)}</b></td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    html += "</table>"
    if info.get("refusal"):
        html += f"<p style='color:#d64545'>{escape(str(info['refusal']))}</p>"
    warnings = info.get("warnings") or []
    if warnings:
        html += f"<p><b>{len(warnings)} warning(s) reading the file</b></p><ul>" + "".join(
            f"<li>{escape(str(w))}</li>" for w in warnings[:8]) + "</ul>"
    return html


def query_text(result: Mapping[str, Any], round_trip_s: float | None, device: str) -> str:
    """Method, device, engine time, round trip and P(evidence) of one posterior update."""
    metrics = result.get("metrics") or {}
    method = {"jt": "exact (junction tree)", "ve": "exact (variable elimination)", "lw": "likelihood weighting",
              "gibbs": "Gibbs sampling"}.get(str(result.get("method")), str(result.get("method", "?")))
    parts = [f"<b>{escape(method)}</b> on {escape(device)}", f"engine {_ms(metrics.get('query_s'))}"]
    if round_trip_s is not None:
        parts.append(f"round trip {round_trip_s * 1000:.1f} ms")
    p_e = result.get("p_evidence")
    if isinstance(p_e, int | float):
        parts.append(f"P(evidence) = {p_e:.4g}")
    if result.get("max_stderr") is not None:
        parts.append(f"max std. error {float(result['max_stderr']):.3g} over {int(result.get('samples', 0)):,} samples")
    return " · ".join(parts)


def _table(headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    # Columns are sized once per fill: ResizeToContents would measure every row on each relayout of the
    # panel (each status update), which stalls the UI for a second on a thousand-node network.
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[Any]]) -> None:
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem()
            item.setData(Qt.ItemDataRole.DisplayRole, round(value, 4) if isinstance(value, float) else str(value))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
    header = table.horizontalHeader()
    if header.stretchLastSection():  # sizing the last column to its contents undid its stretch: redo it
        header.setStretchLastSection(False)
        header.setStretchLastSection(True)


class BayesPanel(QWidget):
    """Facts and analyses beside the graph; buttons ask the page to run MPE, MAP or VOI."""

    clear_all_clicked = Signal()
    mpe_clicked = Signal()
    map_clicked = Signal()
    voi_clicked = Signal(str)  # target node
    node_activated = Signal(str)  # a node picked in a table: the page centres the graph on it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.query_label = QLabel("No network loaded.")
        self.query_label.setWordWrap(True)
        self.query_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.query_label)
        evidence_row = QHBoxLayout()
        self.evidence_label = QLabel("Evidence: none")
        self.evidence_label.setWordWrap(True)
        self.clear_button = QPushButton("Clear all evidence")
        self.clear_button.clicked.connect(self.clear_all_clicked)
        evidence_row.addWidget(self.evidence_label, 1)
        evidence_row.addWidget(self.clear_button)
        layout.addLayout(evidence_row)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        self.tree_label = QLabel("")
        self.tree_label.setWordWrap(True)
        self.tree_label.setTextFormat(Qt.TextFormat.RichText)
        self.tree_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.tree_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cliques = _table(("clique", "entries", "nodes"))
        tree_box = QWidget()
        tree_layout = QVBoxLayout(tree_box)
        tree_layout.addWidget(self.tree_label)
        tree_layout.addWidget(self.cliques, 1)
        self.tabs.addTab(tree_box, "Junction tree")

        explain_box = QWidget()
        explain_layout = QVBoxLayout(explain_box)
        buttons = QHBoxLayout()
        self.mpe_button = QPushButton("Most probable explanation")
        self.mpe_button.setToolTip("The single most likely state of every unobserved node given the evidence")
        self.map_button = QPushButton("MAP of selected nodes")
        self.map_button.setToolTip("Select nodes in the graph (Ctrl+click) to find their most likely joint state")
        self.mpe_button.clicked.connect(self.mpe_clicked)
        self.map_button.clicked.connect(self.map_clicked)
        buttons.addWidget(self.mpe_button)
        buttons.addWidget(self.map_button)
        explain_layout.addLayout(buttons)
        self.explain_label = QLabel("The states found are outlined in green in the graph.")
        self.explain_label.setWordWrap(True)
        explain_layout.addWidget(self.explain_label)
        self.explain_table = _table(("node", "state"))
        explain_layout.addWidget(self.explain_table, 1)
        self.tabs.addTab(explain_box, "MPE / MAP")

        voi_box = QWidget()
        voi_layout = QVBoxLayout(voi_box)
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Target"))
        self.target = QComboBox()
        self.target.setEditable(False)
        self.target.setMinimumContentsLength(14)
        self.voi_button = QPushButton("Rank observations")
        self.voi_button.setToolTip("Which single observation would, on average, tell most about the target")
        self.voi_button.clicked.connect(lambda: self.voi_clicked.emit(self.target.currentText()))
        target_row.addWidget(self.target, 1)
        target_row.addWidget(self.voi_button)
        voi_layout.addLayout(target_row)
        self.voi_label = QLabel("")
        self.voi_label.setWordWrap(True)
        voi_layout.addWidget(self.voi_label)
        # Short headers that fit a narrow panel (the long ones were clipped); the words are in the tooltips.
        self.voi_table = _table(("observe", "gain (bits)", "after (bits)"))
        for column, tip in enumerate(("the node to observe next",
                                      "expected reduction of the target's entropy if this node is observed",
                                      "expected entropy of the target after observing it")):
            header_item = self.voi_table.horizontalHeaderItem(column)
            if header_item is not None:
                header_item.setToolTip(tip)
        voi_layout.addWidget(self.voi_table, 1)
        self.tabs.addTab(voi_box, "Value of information")

        for table in (self.explain_table, self.voi_table, self.cliques):
            table.cellDoubleClicked.connect(lambda row, _col, t=table: self._activated(t, row))

    def _activated(self, table: QTableWidget, row: int) -> None:
        column = 2 if table is self.cliques else 0
        item = table.item(row, column)
        if item is not None:
            self.node_activated.emit(item.text().split(",")[0].strip())

    def show_network(self, info: Mapping[str, Any]) -> None:
        """Fill the junction-tree tab and the target list from an ``info`` result."""
        self.tree_label.setText(tree_html(info))
        cliques = (info.get("junction_tree") or {}).get("clique_list") or []
        largest = sorted(cliques, key=lambda c: -int(c.get("entries", 0)))[:200]
        _fill(self.cliques, [(c.get("id"), int(c.get("entries", 0)), ", ".join(c.get("nodes") or []))
                             for c in largest])
        names = [str(n["name"]) for n in info.get("node_list") or []]
        current = self.target.currentText()
        self.target.clear()
        self.target.addItems(sorted(names))
        if current in names:
            self.target.setCurrentText(current)
        self.explain_table.setRowCount(0)
        self.voi_table.setRowCount(0)
        self.voi_label.setText("")

    def show_query(self, result: QueryResult | Mapping[str, Any], round_trip_s: float | None, device: str) -> None:
        """Method, timing and P(evidence) of the latest posteriors."""
        self.query_label.setText(query_text(result, round_trip_s, device))

    def show_evidence(self, text: str, count: int) -> None:
        """The findings in force."""
        self.evidence_label.setText(f"Evidence: {text}")
        self.clear_button.setEnabled(count > 0)

    def show_explanation(self, result: Mapping[str, Any], evidence: Mapping[str, Any]) -> None:
        """An MPE or MAP answer: the assignment and its probability."""
        assignment = result.get("assignment") or {}
        observed = set((evidence.get("hard") or {}).keys())
        rows = [(node, state + ("  (observed)" if node in observed else "")) for node, state in assignment.items()]
        _fill(self.explain_table, rows)
        method = "MPE" if result.get("method") == "mpe" else "MAP"
        p_post = result.get("p_posterior")
        p_joint = result.get("p_joint")
        text = f"<b>{method}</b> over {len(assignment)} nodes"
        if isinstance(p_post, int | float):
            text += f": P(assignment | evidence) = {p_post:.4g}"
        if isinstance(p_joint, int | float):
            text += f", joint {p_joint:.4g}"
        text += f" · {_ms((result.get('metrics') or {}).get('query_s'))}"
        self.explain_label.setText(text)

    def show_voi(self, result: Mapping[str, Any]) -> None:
        """A value-of-information ranking."""
        ranking = result.get("ranking") or []
        _fill(self.voi_table, [(r["node"], float(r["expected_entropy_reduction_bits"]),
                                float(r["expected_entropy_after_bits"])) for r in ranking])
        posterior = result.get("posterior") or {}
        now = ", ".join(f"{s} {p:.1%}" for s, p in posterior.items())
        self.voi_label.setText(f"<b>{escape(str(result.get('target')))}</b> now: {escape(now)} · entropy "
                               f"{float(result.get('target_entropy_bits', 0)):.3f} bits (uniform "
                               f"{float(result.get('uniform_entropy_bits', 0)):.3f}) · "
                               f"{_ms((result.get('metrics') or {}).get('query_s'))}")
