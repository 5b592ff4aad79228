"""The Server page: start on a free port, serve a real request from the window's own model service, show
it live and in the log, refuse an exposed address without a key, stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gui_support import STARTER_LLM, make_context, wait_for
from PySide6.QtCore import Qt

from ui.context import AppContext
from ui.server.page import ServerPage
from ui.server.rows import live_row, log_row, summary


@pytest.fixture
def page(qtbot, tmp_path: Path) -> Iterator[ServerPage]:  # type: ignore[no-untyped-def]
    context: AppContext = make_context(tmp_path)
    widget = ServerPage(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()
    context.shutdown()


def test_exposed_address_without_key_is_refused(page: ServerPage, qtbot) -> None:  # type: ignore[no-untyped-def]
    page.host.setText("0.0.0.0")
    page.port.setValue(0)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: page.error.isVisibleTo(page), what="the refusal")
    assert "api-key" in page.error.text() and page.server is None
    assert page.start_button.text() == "Start server"


def test_start_serve_watch_and_stop(page: ServerPage, qtbot) -> None:  # type: ignore[no-untyped-def]
    page.port.setValue(0)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: page.address is not None, what="the server to start")
    assert page.address is not None and page.address.startswith("http://127.0.0.1:")
    assert page.start_button.text() == "Stop server" and not page.host.isEnabled()
    base = page.address + "/v1"
    answers: list[httpx.Response] = []
    body = {"model": STARTER_LLM, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 48,
            "ignore_eos": True, "temperature": 0}
    client = threading.Thread(target=lambda: answers.append(httpx.post(f"{base}/chat/completions", json=body,
                                                                       timeout=180)))
    client.start()
    # Seen live while it runs (the page refreshes from snapshots), then in the log with its TTFT.
    wait_for(lambda: page.live.rowCount() == 1, timeout=120, what="the live request")
    assert page.live.item(0, 2).text() == "/v1/chat/completions"
    wait_for(lambda: page.log.rowCount() == 1, timeout=180, what="the logged request")
    client.join(10)
    assert answers[0].status_code == 200 and answers[0].json()["usage"]["completion_tokens"] == 48
    assert page.log.item(0, 4).text() == "200" and page.log.item(0, 6).text().endswith("ms")
    assert page.slots.rowCount() == 1 and page.slots.item(0, 3).text() == "ready"
    assert "1 requests" in page.status.text()
    # The window's service holds the model: a chat in the window would reuse this very slot.
    assert page.context.service.slots()[0].key.engine == "llm"
    run = page.context.history.runs()[0]
    assert "api" in run["tags"] and run["metrics"]["ttft_ms"] > 0
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.server is None and page.address is None and page.host.isEnabled()
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/models", timeout=5)


def test_rows_and_summary_read_well() -> None:
    from server.activity import RequestInfo

    info = RequestInfo(3, "127.0.0.1:5000", "/v1/completions", STARTER_LLM, 100.0, "running", 12, 85.4)
    assert live_row(info, now=102.5) == ["3", "127.0.0.1:5000", "/v1/completions", STARTER_LLM, "running", "12",
                                         "85 ms", "2.5 s"]
    done = RequestInfo(4, "c", "/v1/chat/completions", "m", 100.0, "done", 5, 40.0, 210.0, 499)
    assert log_row(done)[4:] == ["499", "5", "40 ms", "210 ms"]
    assert summary(None, 0, [], 0).startswith("Stopped")
    assert summary("http://127.0.0.1:1234", 42.0, [info], 9) == \
        "Serving http://127.0.0.1:1234/v1 · 42.0 tok/s · 1 running, 0 queued · 9 requests"
