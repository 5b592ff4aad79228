"""The Bayes page on ALARM with the real bayes engine in a worker: click evidence, soft evidence, MPE, VOI."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator

import psutil
import pytest
from gui_support import shown_page, wait_for
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ui.bayes.evidence import EvidenceSet, SoftEvidenceDialog
from ui.bayes.graph import HEADER
from ui.bayes.layout import count_crossings, layered_layout, layers_of
from ui.bayes.page import BayesPage, list_shipped_networks

# pgmpy 1.1.2 VariableElimination on resources/networks/alarm.bif.gz, computed once outside the app.
LVEDVOLUME_GIVEN_HYPOVOLEMIA_AND_LOW_CVP = [0.81791405, 0.0528661, 0.12921985]
ASIA = [("asia", "tub"), ("smoke", "lung"), ("smoke", "bronc"), ("tub", "either"), ("lung", "either"),
        ("either", "xray"), ("either", "dysp"), ("bronc", "dysp")]


# --- pure parts -------------------------------------------------------------------------------------
def test_layout_puts_parents_above_children_without_overlaps() -> None:
    nodes = ["xray", "dysp", "either", "bronc", "lung", "tub", "smoke", "asia"]
    positions = layered_layout(nodes, ASIA, width=100, height=40, gap_x=10, gap_y=30)
    assert set(positions) == set(nodes)
    for parent, child in ASIA:
        assert positions[parent][1] < positions[child][1]
    rows: dict[float, list[float]] = {}
    for x, y in positions.values():
        rows.setdefault(y, []).append(x)
    for xs in rows.values():
        xs.sort()
        assert all(b - a >= 110 - 1e-6 for a, b in itertools.pairwise(xs))
    assert min(x for x, _ in positions.values()) == 0
    assert positions["asia"][1] == positions["smoke"][1] or positions["asia"][1] > 0  # roots sit near children


def test_layout_survives_cycles_and_orders_to_cut_crossings() -> None:
    assert set(layers_of(["a", "b"], {"a": ["b"], "b": ["a"]})) == {"a", "b"}
    parents = {"c1": ["p2"], "c2": ["p1"], "p1": [], "p2": []}
    layer = {"p1": 0, "p2": 0, "c1": 1, "c2": 1}
    assert count_crossings([["p1", "p2"], ["c1", "c2"]], parents, layer) == 1
    positions = layered_layout(["p1", "p2", "c1", "c2"], [("p2", "c1"), ("p1", "c2")], width=50, height=20)
    assert (positions["c1"][0] < positions["c2"][0]) == (positions["p2"][0] < positions["p1"][0])


def test_evidence_toggles_and_soft_replaces_hard() -> None:
    evidence = EvidenceSet()
    evidence.toggle_hard("A", "yes")
    evidence.set_soft("B", [0.8, 0.2])
    assert evidence.params() == {"evidence": {"A": "yes"}, "soft_evidence": {"B": [0.8, 0.2]}}
    evidence.toggle_hard("A", "yes")  # the same state again: removed
    evidence.toggle_hard("B", "no")  # hard replaces soft
    assert evidence.params() == {"evidence": {"B": "no"}, "soft_evidence": {}}
    assert evidence.describe() == "B=no" and len(evidence) == 1
    evidence.clear()
    assert len(evidence) == 0 and evidence.describe() == "none"


def test_soft_dialog_refuses_all_zero_weights(qapp: QApplication) -> None:
    dialog = SoftEvidenceDialog("CVP", ["LOW", "NORMAL", "HIGH"], posterior=[0.1, 0.6, 0.3])
    for spin in dialog.spins:
        spin.setValue(0.0)
    dialog._accept()
    assert dialog.result() == 0 and "above 0" in dialog.error.text()
    dialog.spins[0].setValue(4.0)
    dialog._accept()
    assert dialog.result() == 1 and dialog.weights() == [4.0, 0.0, 0.0]


def test_every_shipped_network_is_listed() -> None:
    names = list_shipped_networks()
    assert {"alarm", "asia", "munin"} <= set(names)


# --- the page with a real worker --------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BayesPage]:
    """ALARM loaded once, drawn, with its prior posteriors shown."""
    with shown_page(BayesPage, tmp_path_factory.mktemp("bayes"), (1400, 900)) as page:
        wait_for(lambda: bool(page.last_query) and not page.is_busy, 120, "ALARM's first posteriors")
        yield page


def _wait_idle(page: BayesPage, timeout: float = 60) -> None:
    wait_for(lambda: not page.is_busy, timeout, "the bayes page to settle")


def _probs(page: BayesPage, node: str) -> list[float]:
    return list(page.scene.nodes[node].probs)


def _click_state(page: BayesPage, node: str, state: str) -> None:
    item = page.scene.nodes[node]
    page.view.centerOn(item)
    point = page.view.mapFromScene(item.mapToScene(item.row_rect(state).center()))
    QTest.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_fit_keeps_the_nodes_readable_and_a_hint_says_how_to_zoom(page: BayesPage) -> None:
    from ui.bayes.graph import READABLE_ZOOM, TEXT_LOD

    page.fit_button.click()
    zoom = page.view.transform().m11()
    assert TEXT_LOD < READABLE_ZOOM <= zoom <= 1.0  # state names and percentages are drawn, not bare bars
    shown = page.view.mapToScene(page.view.viewport().rect()).boundingRect()
    assert any(shown.contains(item.sceneBoundingRect()) for item in page.scene.nodes.values())
    assert page.view.verticalScrollBar().maximum() > 0  # alarm is taller than the view at that size: it scrolls
    hint = page.view.hint_text()
    assert hint.startswith(f"{zoom:.0%}") and "wheel: zoom" in hint
    page.view.zoom(0.5)
    assert page.view.hint_text().startswith(f"{page.view.transform().m11():.0%}")
    page.fit_button.click()
    assert page.view.transform().m11() == pytest.approx(zoom)


def test_alarm_is_drawn_with_every_node_and_the_tree_statistics(page: BayesPage) -> None:
    assert len(page.scene.nodes) == 37 and len(page.scene.edges) == 46
    for item in page.scene.nodes.values():
        assert sum(item.probs) == pytest.approx(1.0, abs=1e-9)
    assert _probs(page, "HYPOVOLEMIA") == pytest.approx([0.2, 0.8])
    tree = page.panel.tree_label.text()
    assert "27" in tree and "treewidth 4" in tree and "144 entries" in tree
    assert page.panel.cliques.rowCount() == 27
    query = page.panel.query_label.text()
    assert "exact (junction tree)" in query and "engine" in query and "ms" in query and "cpu" in query


def test_clicking_states_sets_hard_evidence_and_updates_the_posteriors(page: BayesPage) -> None:
    before = _probs(page, "LVEDVOLUME")
    _click_state(page, "HYPOVOLEMIA", "TRUE")
    wait_for(lambda: page.evidence.hard == {"HYPOVOLEMIA": "TRUE"}, 5, "the click")
    _wait_idle(page)
    assert _probs(page, "HYPOVOLEMIA") == pytest.approx([1.0, 0.0])
    assert _probs(page, "LVEDVOLUME") != pytest.approx(before)
    _click_state(page, "CVP", "LOW")
    _wait_idle(page)
    assert _probs(page, "LVEDVOLUME") == pytest.approx(LVEDVOLUME_GIVEN_HYPOVOLEMIA_AND_LOW_CVP, abs=1e-6)
    assert page.scene.nodes["CVP"].hard == "LOW"
    assert "HYPOVOLEMIA=TRUE" in page.panel.evidence_label.text()
    runs = page.context.history.runs(engine="bayes")
    assert any(r["op"] == "query" and r["status"] == "ok" for r in runs)
    _click_state(page, "CVP", "LOW")  # clicking the observed state again removes the finding
    _wait_idle(page)
    assert page.evidence.hard == {"HYPOVOLEMIA": "TRUE"}


def test_rapid_clicks_are_coalesced_into_the_latest_evidence(page: BayesPage) -> None:
    sent = page.queries_sent
    for state in ("LOW", "NORMAL", "HIGH", "LOW", "NORMAL", "HIGH", "LOW"):
        page.toggle_evidence("PCWP", state)
    _wait_idle(page)
    assert page.queries_sent - sent <= 2  # the first click's query, then only the newest evidence
    assert page.last_query["evidence"]["hard"] == {"HYPOVOLEMIA": "TRUE", "PCWP": "LOW"}
    assert _probs(page, "PCWP") == pytest.approx([1.0, 0.0, 0.0])
    page.clear_evidence("PCWP")
    _wait_idle(page)


def test_soft_evidence_and_clearing_through_the_scene(page: BayesPage) -> None:
    prior_pcwp = _probs(page, "PCWP")
    page.set_soft_evidence("CVP", [0.9, 0.1, 0.0])
    _wait_idle(page)
    assert page.scene.nodes["CVP"].soft == [0.9, 0.1, 0.0]
    assert page.last_query["evidence"]["soft"] == {"CVP": [0.9, 0.1, 0.0]}
    assert _probs(page, "CVP")[2] == pytest.approx(0.0)
    assert _probs(page, "PCWP") != pytest.approx(prior_pcwp)
    page.scene.clear_requested.emit("CVP")
    _wait_idle(page)
    assert "CVP" not in page.evidence.soft and page.scene.nodes["CVP"].soft is None
    assert _probs(page, "PCWP") == pytest.approx(prior_pcwp)


def test_invalid_evidence_is_explained_and_taken_back(page: BayesPage) -> None:
    good = page.evidence.params()
    page.set_soft_evidence("CVP", [0.0, 0.0, 0.0])
    _wait_idle(page)
    assert "rules out every state" in page.status.text() and "taken back" in page.status.text()
    assert page.evidence.params() == good
    assert page.scene.nodes["CVP"].soft is None


def test_mpe_map_and_value_of_information_fill_the_panel(page: BayesPage) -> None:
    page.run_mpe()
    _wait_idle(page)
    assert page.panel.explain_table.rowCount() == 36  # every node but the observed one
    assert "MPE" in page.panel.explain_label.text() and "P(assignment | evidence)" in page.panel.explain_label.text()
    assert sum(item.highlight is not None for item in page.scene.nodes.values()) == 36
    page.scene.clearSelection()
    for name in ("LVFAILURE", "STROKEVOLUME"):
        page.scene.nodes[name].setSelected(True)
    page.panel.map_button.click()
    _wait_idle(page)
    assert page.panel.explain_table.rowCount() == 2 and "MAP" in page.panel.explain_label.text()
    page.scene.clearSelection()
    page.run_voi("LVFAILURE")
    _wait_idle(page)
    table = page.panel.voi_table
    gains = [float(table.item(r, 1).text()) for r in range(table.rowCount())]
    assert table.rowCount() > 5 and gains == sorted(gains, reverse=True) and gains[0] > 0
    assert "LVFAILURE" in page.panel.voi_label.text()
    header = table.horizontalHeader()
    for column in (1, 2):  # the headers are whole, not "ntropy gain (bits"
        title = table.horizontalHeaderItem(column).text()
        assert header.sectionSize(column) >= header.fontMetrics().horizontalAdvance(title)
    assert table.horizontalScrollBar().maximum() == 0
    page.panel.tabs.setCurrentWidget(table.parentWidget())
    assert sum(header.sectionSize(c) for c in range(3)) >= table.viewport().width() - 1  # no blank strip
    assert page.context.history.runs(engine="bayes")[0]["op"] == "voi"


def test_other_methods_agree_with_the_junction_tree(page: BayesPage) -> None:
    exact = _probs(page, "LVEDVOLUME")
    page.method_combo.setCurrentIndex(page.method_combo.findData("ve"))
    _wait_idle(page)
    assert page.last_query["method"] == "ve"
    assert _probs(page, "LVEDVOLUME") == pytest.approx(exact, abs=1e-9)
    page.method_combo.setCurrentIndex(page.method_combo.findData("lw"))
    _wait_idle(page)
    assert page.last_query["method"] == "lw" and "likelihood weighting" in page.panel.query_label.text()
    assert _probs(page, "LVEDVOLUME") == pytest.approx(exact, abs=0.05)
    page.method_combo.setCurrentIndex(page.method_combo.findData("jt"))
    _wait_idle(page)


def test_dragging_moves_a_node_zooming_scales_and_no_evidence_is_set(page: BayesPage) -> None:
    item = page.scene.nodes["HISTORY"]
    page.view.centerOn(item)
    start = page.view.mapFromScene(item.mapToScene(QPointF(40, HEADER / 2)))
    before, evidence = QPointF(item.pos()), page.evidence.params()
    edge = item.edges[0]
    path_before = edge.path().boundingRect()
    viewport = page.view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 6):
        QTest.mouseMove(viewport, start + QPoint(12 * step, 8 * step))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(60, 40))
    assert item.pos() != before
    assert edge.path().boundingRect() != path_before
    assert page.evidence.params() == evidence
    scale = page.view.transform().m11()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert page.view.transform().m11() == pytest.approx(min(4.0, scale * 1.15 ** 2))


def test_a_worker_killed_between_queries_is_replaced_and_keeps_the_evidence(page: BayesPage) -> None:
    page.clear_evidence("CVP")  # earlier tests may have left a finding on it: the toggle below must set one
    wait_for(lambda: not page.is_busy and "CVP" not in page.last_query["evidence"]["hard"], 60, "the page to settle")
    pid = page.session.worker_pid
    assert pid is not None
    evidence = page.evidence.params()
    statuses: list[str] = []
    page.session.load_progress.connect(lambda _fraction, message: statuses.append(message))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 30,
             "the worker to die")
    page.toggle_evidence("CVP", "HIGH")  # the next query restarts the worker (the service notices the death)

    def answered() -> bool:
        return page.last_query["evidence"]["hard"].get("CVP") == "HIGH" and not page.is_busy

    # Either the service saw the death first and replaced the worker for this query, or the query met the
    # dead worker and the page offers the restart (which queries again with the evidence it kept).
    wait_for(lambda: answered() or page.restart_button.isVisible(), 60, "the query or the crash banner")
    if not answered():
        assert "stopped" in page.status.text()
        page.restart_button.click()
        wait_for(answered, 60, "the query after the restart")
    else:
        assert any("had stopped" in m and "SIGKILL" in m for m in statuses)
    assert page.session.worker_pid not in (None, pid)
    assert page.last_query["evidence"]["hard"] == {**evidence["evidence"], "CVP": "HIGH"}
    assert len(page.scene.nodes) == 37


def test_another_network_replaces_the_drawing(page: BayesPage) -> None:
    page.load_network("asia")
    wait_for(lambda: page.last_query.get("network") == "asia" and not page.is_busy, 60, "asia")
    assert len(page.scene.nodes) == 8
    assert page.last_query["network"] == "asia" and len(page.evidence) == 0
    assert page.network_combo.currentText() == "asia"
    assert page.context.settings.value("bayes/network") == "asia"
