"""The UI thread stays responsive while the real starter model streams an answer in the Chat page and a
model download runs through the model manager (against the loopback fake Hub): a 5 ms QTimer heartbeat
measures the longest stall, which must stay under 50 ms.

This machine is shared (its two vCPUs often carry a load of 6-9), and then no process, not even an empty
sleep loop, is scheduled every 5 ms. A reference heartbeat in a separate process runs alongside: a UI
gap during which the reference also went unscheduled is the machine's, not the app's, and is reported
but not held against it. Both the raw and the attributable longest stall are printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import (
    STARTER_LLM,
    FakeHubProcess,
    ReferenceHeartbeat,
    attributable_stalls,
    make_context,
    wait_for,
)
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ui.chat.page import ChatPage
from ui.main_window import MainWindow
from ui.models.page import ModelsPage
from ui.preferences import CACHE_KEY, ENDPOINT_KEY

REPO = "org/Big-GGUF"
FILE = "big-Q4_K_M.gguf"
STALL_LIMIT_MS = 50.0


class Heartbeat(QObject):
    """Ticks every ``interval_ms`` on the UI thread and keeps the longest gap between ticks."""

    def __init__(self, interval_ms: int = 5) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.ticks: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.ticks = [self._last]
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self.ticks.append(now)
        self._last = now

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0)


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHubProcess]:
    """A fake Hub (in its own process) with one large GGUF, sent slowly so the download lasts seconds."""
    hub = FakeHubProcess(REPO, FILE, 48 * 1024 * 1024, chunk_delay_s=0.01)
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def window(qapp: QApplication, fake_hub: FakeHubProcess,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainWindow]:
    """The main window with the Chat page on show (starter model loaded) and the Models page built."""
    folder = tmp_path_factory.mktemp("responsive")
    context = make_context(folder)
    context.settings.setValue(ENDPOINT_KEY, fake_hub.url)
    context.settings.setValue(CACHE_KEY, str(folder / "hf-cache"))
    main = MainWindow(context, page="models", freeze_gc=True)  # as ui.app.run_gui makes it
    main.resize(1280, 820)
    main.show()
    wait_for(lambda: "models" in main.pages, 10, "the Models page")
    chat = main.open_page("chat")
    assert isinstance(chat, ChatPage)
    wait_for(lambda: chat.model_bar.model_ref() == STARTER_LLM, 30, "the model list")
    chat.load_model()
    wait_for(lambda: chat.session.is_loaded and not chat.session.busy, 120, "the model")
    yield main
    wait_for(lambda: context.devices or context.closed, 180, "the device probe")
    main.close()


def test_ui_thread_never_stalls_while_streaming_and_downloading(window: MainWindow, tmp_path: Path) -> None:
    chat = window.pages["chat"]
    models = window.pages["models"]
    assert isinstance(chat, ChatPage) and isinstance(models, ModelsPage)
    progress: list[float] = []
    models.download_bar.valueChanged.connect(lambda value: progress.append(time.perf_counter()))
    heartbeat = Heartbeat()

    task = models.download(REPO, FILE)
    assert task is not None
    wait_for(lambda: progress, 30, "the download to start")
    chat.new_chat()
    wait_for(lambda: chat.state is not None and not chat.state.messages, 10, "a new conversation")
    chat.sampling.set_values({"max_tokens": 160, "temperature": 0.7, "seed": 3})
    chat.composer.setPlainText("Write a detailed essay about the history of lighthouses, with a code example.")
    chat.send()
    wait_for(lambda: chat._rate.count >= 1, 60, "the first token")

    # Measure while both are running: tokens streaming into the view and graph, bytes arriving on disk.
    tokens_before, progress_before = chat._rate.count, len(progress)
    reference = ReferenceHeartbeat(tmp_path)
    wait_for(lambda: reference.path.exists(), 10, "the reference heartbeat")
    heartbeat.start()
    started = time.perf_counter()
    wait_for(lambda: not chat.generating or models.download_task is None or time.perf_counter() - started > 8,
             120, "the measurement window")
    heartbeat.stop()
    measured_s = time.perf_counter() - started
    reference_ticks = reference.stop()
    both_running = chat.generating and models.download_task is not None
    tokens, updates = chat._rate.count - tokens_before, len(progress) - progress_before

    chat.stop()
    models.cancel_download()
    wait_for(lambda: not chat.generating and models.download_task is None, 60, "both to stop")

    assert measured_s > 1.5 or both_running, f"the overlap was too short to measure ({measured_s:.1f} s)"
    assert tokens >= 5 and updates >= 5, (tokens, updates)
    own, shared = attributable_stalls(heartbeat.ticks, reference_ticks)
    print(f"\nresponsiveness: {measured_s:.1f} s with {tokens} tokens and {updates} download updates; "
          f"{len(heartbeat.gaps)} heartbeats; longest UI stall {heartbeat.longest_ms:.1f} ms raw, "
          f"{max(own, default=0):.1f} ms attributable to the app ({len(shared)} gaps, up to "
          f"{max(shared, default=0):.1f} ms, fell while a separate reference process was not scheduled either)")
    assert sum(shared) < measured_s * 1000 * 0.5, "the machine was too busy to measure anything"
    assert max(own, default=0.0) < STALL_LIMIT_MS, sorted(own)[-10:]
