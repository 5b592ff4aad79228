"""The Bayes page: a network drawn as a graph with posterior bars; click states to observe them.

The network lives in a warm bayes worker slot of the model service, behind an :class:`EngineSession`. One
request runs at a time; a query replaces the query still waiting, so only the newest evidence set is
queried next (rapid clicks cost one extra query, not one per click), and queries go before waiting
MPE/MAP/VOI requests. The layout is computed on the task runner, never on the UI thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QWidget,
)

from app.default_models import spec_default
from app.recording import RunOutcome
from app.usecases.bayes_query import posterior_question
from ui.bayes.evidence import EvidenceSet, SoftEvidenceDialog
from ui.bayes.form import build_form
from ui.bayes.graph import NODE_WIDTH, node_height
from ui.bayes.layout import layered_layout
from ui.bayes.network_choice import NetworkChoice, list_shipped_networks
from ui.context import AppContext
from ui.engine_session import EngineSession

# Interactive posterior updates are recorded like every other run (the History page lists them).
RECORD_QUERIES = True
STALE_AFTER_MS = 150
_KEY = "bayes/"


class BayesPage(NetworkChoice):
    """Interactive inference on a discrete Bayesian network."""

    posteriors_updated = Signal(dict)  # the latest query result
    request_finished = Signal(str, str)  # op, status

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = EngineSession("bayes", context.history, self, service=context.service)
        self.evidence = EvidenceSet()
        self._good_evidence = EvidenceSet()  # the last evidence the engine accepted
        self.info: dict[str, Any] = {}
        self.last_query: dict[str, Any] = {}
        self.network = ""
        self._scene_network = ""
        self._started_at = 0.0
        self._queries_waiting = 0  # submitted queries not finished yet (at most one waits, one runs)
        self.queries_sent = 0
        self.queries_coalesced = 0
        self._closed = False
        # Bars are dimmed only when an answer is slow to come: a quick answer repaints the graph once.
        self._stale_timer = QTimer(self)
        self._stale_timer.setSingleShot(True)
        self._stale_timer.setInterval(STALE_AFTER_MS)
        self._build()
        self._connect()
        self.context.tasks.run(list_shipped_networks, on_done=self._networks_listed)
        default = spec_default("bayes")
        self.load_network(str(self.context.settings.value(_KEY + "network", default) or default))

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        build_form(self)

    def _connect(self) -> None:
        self.network_combo.activated.connect(self._network_chosen)
        self.open_button.clicked.connect(self._open_file)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        self.device.device_changed.connect(self._device_changed)
        self.fit_button.clicked.connect(self.view.fit)
        self.relayout_button.clicked.connect(self._relayout)
        self.restart_button.clicked.connect(self.restart_worker)
        self._stale_timer.timeout.connect(lambda: self.scene.set_stale(True))
        self.scene.state_clicked.connect(self.toggle_evidence)
        self.scene.soft_requested.connect(self._soft_dialog)
        self.scene.clear_requested.connect(self.clear_evidence)
        self.scene.target_requested.connect(self.run_voi)
        self.panel.clear_all_clicked.connect(self.clear_evidence)
        self.panel.mpe_clicked.connect(self.run_mpe)
        self.panel.map_clicked.connect(self._map_selected)
        self.panel.voi_clicked.connect(self.run_voi)
        self.panel.node_activated.connect(self.centre_on)
        session = self.session
        session.started.connect(self._on_started)
        session.load_progress.connect(self._on_load_progress)
        session.loaded.connect(self._on_loaded)
        session.load_failed.connect(self._on_load_failed)
        session.progress.connect(self._on_progress)
        session.finished.connect(self._on_finished)
        session.crashed.connect(self._on_crashed)

    # --- public actions --------------------------------------------------------------------------
    def load_network(self, network: str) -> None:
        """Load a shipped network by name, or a network file, on the chosen device."""
        if self._closed or not network:
            return
        self.network = network
        self.context.settings.setValue(_KEY + "network", network)
        self._select_in_combo(network)
        self.evidence = EvidenceSet()
        self._good_evidence = EvidenceSet()
        self.last_query = {}
        self.session.cancel()  # what waits was meant for the previous network
        self._start_load()

    def toggle_evidence(self, node: str, state: str) -> None:
        """Observe ``node = state`` (again on the same state: remove the finding) and update the posteriors."""
        self.evidence.toggle_hard(node, state)
        self._evidence_changed()

    def set_soft_evidence(self, node: str, weights: list[float]) -> None:
        """Likelihood evidence on ``node`` (one weight per state)."""
        self.evidence.set_soft(node, weights)
        self._evidence_changed()

    def clear_evidence(self, node: str | None = None) -> None:
        """Remove the finding on ``node``, or all findings."""
        self.evidence.clear(node or None)
        self._evidence_changed()

    def run_mpe(self) -> None:
        """The most probable explanation of the current evidence."""
        self._queue_op("mpe", self.evidence.params())

    def run_map(self, nodes: list[str]) -> None:
        """The most probable joint state of ``nodes`` given the evidence."""
        self._queue_op("map", {**self.evidence.params(), "targets": list(nodes)})

    def run_voi(self, target: str, top: int = 20) -> None:
        """Rank the unobserved nodes by how much observing them would tell about ``target``."""
        if target:
            self.panel.target.setCurrentText(target)
            self.panel.tabs.setCurrentIndex(2)
            self._queue_op("voi", {**self.evidence.params(), "target": target, "top": top})

    def centre_on(self, node: str) -> None:
        """Scroll the graph to ``node`` and select it."""
        item = self.scene.nodes.get(node)
        if item is not None:
            self.scene.clearSelection()
            item.setSelected(True)
            self.view.centerOn(item)

    def restart_worker(self) -> None:
        """Start a fresh worker after a crash; the network is reloaded and the evidence kept."""
        self.restart_button.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status("restarting the bayes worker…")
        self._start_load()

    def method(self) -> str:
        """The chosen inference method id (jt, ve, lw, gibbs)."""
        return str(self.method_combo.currentData() or "jt")

    @property
    def is_busy(self) -> bool:
        """True while something is in flight or waiting."""
        return self.session.busy

    # --- requests ----------------------------------------------------------------------------------
    def _start_load(self) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status(f"loading {self.network} on {self.device.current_device()}…")
        self.session.load(self.network, self.device.current_device(), {}, model_id=Path(self.network).name)

    def _evidence_changed(self) -> None:
        self.scene.set_evidence(self.evidence.hard, self.evidence.soft)
        self.scene.set_highlight({})
        self.panel.show_evidence(self.evidence.describe(), len(self.evidence))
        self._request_query()

    def _request_query(self) -> None:
        # Not gated on a live worker: the service restarts a dead one for the query.
        if not self.info and not self.session.busy:
            return
        params = dict(posterior_question(self.evidence.hard, self.evidence.soft, method=self.method()).params)
        replaced = self.session.run("query", params, record=RECORD_QUERIES, replace_queued=True, front=True)
        self.queries_coalesced += replaced
        self.queries_sent += 1 - replaced
        self._queries_waiting += 1 - replaced
        if not self._stale_timer.isActive():
            self._stale_timer.start()

    def _queue_op(self, op: str, params: dict[str, Any]) -> None:
        if not self.info and not self.session.busy:
            self._set_status("no network is loaded", error=True)
            return
        self.session.run(op, params, record=op != "info")

    def _on_started(self, op: str) -> None:
        self._started_at = time.perf_counter()
        if op in ("mpe", "map", "voi"):
            self._set_status(f"running {op.upper()}…")

    # --- session signals ---------------------------------------------------------------------------
    def _on_load_progress(self, fraction: float, message: str) -> None:
        if message:
            self._set_status(f"loading {self.network}: {message}")

    def _on_progress(self, done: float, total: float, _message: str) -> None:
        if total > 0:
            self.progress.show()
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))

    def _on_loaded(self, info: dict[str, Any]) -> None:
        self.restart_button.hide()
        self.info = dict(info)
        self._finish_progress()
        metrics = info.get("metrics") or {}
        load_s = sum(float(metrics.get(k, 0)) for k in ("parse_s", "compile_s"))
        self._set_status(f"loaded {info.get('name')} ({info.get('nodes')} nodes) in {load_s * 1000:.0f} ms"
                         + ("" if info.get("compiled") else f" — {info.get('refusal')}"))
        if self._scene_network == str(info.get("path")) and self.scene.nodes:
            self._request_query()  # a restart: same network, keep the drawing and the evidence
        else:
            self.session.run("info", {}, record=False, front=True)

    def _on_load_failed(self, kind: str, message: str) -> None:
        self.session.cancel()  # what waits for this network would fail the same way
        self._finish_progress()
        self._set_status(f"could not load {self.network} ({kind}): {message}", error=True)
        self.request_finished.emit("load", "failed")

    def _on_crashed(self, reason: str) -> None:
        self._finish_progress()
        self._set_status(f"the bayes worker stopped: {reason}", error=True)
        self.restart_button.show()

    def _on_finished(self, outcome: RunOutcome) -> None:
        op = outcome.op or "?"
        if op == "query":
            self._queries_waiting = max(0, self._queries_waiting - 1)
        if outcome.status == "cancelled" and not outcome.run_id:
            return  # replaced by a newer query before it started, or dropped with its network
        round_trip = time.perf_counter() - self._started_at
        if not self.session.busy:
            self.progress.hide()
        result = dict(outcome.result or {})
        if outcome.ok:
            if op == "info":
                self._network_info(result)
            elif op == "query":
                self._posteriors(result, round_trip)
            elif op in ("mpe", "map"):
                self.panel.show_explanation(result, result.get("evidence") or {})
                self.panel.tabs.setCurrentIndex(1)
                self.scene.set_highlight(result.get("assignment") or {})
                self._set_status(f"{op.upper()} found in {round_trip * 1000:.0f} ms")
            elif op == "voi":
                self.panel.show_voi(result)
                self._set_status(f"value of information for {result.get('target')} in {round_trip * 1000:.0f} ms")
        elif outcome.status == "failed" and outcome.phase != "load":
            self._failed(op, outcome)
        self.request_finished.emit(op, outcome.status)

    def _posteriors(self, result: dict[str, Any], round_trip: float) -> None:
        self.last_query = result
        used = result.get("evidence") or {}  # the evidence the engine accepted, as it read it
        self._good_evidence = EvidenceSet(dict(used.get("hard") or {}),
                                          {k: list(v) for k, v in (used.get("soft") or {}).items()})
        newer = self._queries_waiting > 0
        if not newer:
            self._stale_timer.stop()
        self.scene.set_posteriors(result.get("posteriors") or {}, stale=newer)
        self.panel.show_query(result, round_trip, self.session.device)
        if not newer:
            self._set_status(f"evidence: {self.evidence.describe()}")
        self.posteriors_updated.emit(result)

    def _failed(self, op: str, outcome: RunOutcome) -> None:
        message = outcome.error or "failed"
        if op == "query" and outcome.error_kind == "bad_input" and self._queries_waiting == 0:
            # Impossible or invalid evidence: go back to the last evidence the engine accepted.
            self.evidence = self._good_evidence.copy()
            self.scene.set_evidence(self.evidence.hard, self.evidence.soft)
            self.panel.show_evidence(self.evidence.describe(), len(self.evidence))
            self._stale_timer.stop()
            self.scene.set_stale(False)
            self._set_status(f"{message} — the last finding was taken back", error=True)
        else:
            self._set_status(f"{op} failed: {message}", error=True)

    def _network_info(self, info: dict[str, Any]) -> None:
        self.info.update(info)
        self.panel.show_network(self.info)
        nodes = [{"name": n["name"], "states": n["states"]} for n in info.get("node_list") or []]
        edges = [(str(e[0]), str(e[1])) for e in info.get("edge_list") or []]
        heights = {n["name"]: node_height(len(n["states"])) for n in nodes}
        names = [n["name"] for n in nodes]
        path = str(info.get("path"))

        def work(state: Any) -> dict[str, tuple[float, float]]:
            return layered_layout(names, edges, width=NODE_WIDTH, height=lambda n: heights[n], gap_x=18, gap_y=44,
                                  cancelled=lambda: bool(state.cancelled))

        self._set_status(f"laying out {len(nodes)} nodes…")
        self.context.tasks.run(work, on_done=lambda positions: self._draw(nodes, edges, positions, path),
                               on_error=lambda message, _tb: self._set_status(f"layout failed: {message}", error=True))

    def _draw(self, nodes: list[dict[str, Any]], edges: list[tuple[str, str]],
              positions: dict[str, tuple[float, float]], path: str) -> None:
        if self._closed:
            return
        self.scene.build(nodes, edges, positions)
        self._scene_network = path
        self.scene.set_evidence(self.evidence.hard, self.evidence.soft)
        self.panel.show_evidence(self.evidence.describe(), len(self.evidence))
        self.view.fit()
        self._request_query()

    def _method_changed(self, _index: int) -> None:
        self.context.settings.setValue(_KEY + "method", self.method())
        self._request_query()

    def _device_changed(self, device: str) -> None:
        self.context.settings.setValue(_KEY + "device", device)
        if self.network and device != self.session.device:
            self._start_load()

    def _relayout(self) -> None:
        if self.info.get("node_list"):
            self._network_info(self.info)

    def _soft_dialog(self, node: str) -> None:
        item = self.scene.nodes.get(node)
        if item is None:
            return
        dialog = SoftEvidenceDialog(node, item.states, self.evidence.soft.get(node), item.probs or None, self)
        if dialog.exec():
            self.set_soft_evidence(node, dialog.weights())

    def _map_selected(self) -> None:
        selected = [item.name for item in self.scene.nodes.values() if item.isSelected()]
        if not selected:
            self._set_status("select the nodes to explain first (click a node's title; Ctrl+click for more)")
            return
        self.run_map(selected)

    def _finish_progress(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.hide()

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_row.show_status(text, error)

    # --- lifecycle -------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Close the worker (nothing else runs on timers here)."""
        if self._closed:
            return
        self._closed = True
        self._stale_timer.stop()
        self.context.settings.setValue(_KEY + "splitter", self.splitter.saveState())
        self.session.close()
