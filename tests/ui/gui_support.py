"""Helpers for the window/chat/models/history/settings GUI tests: an isolated context and waiting."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Protocol, TypeVar

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app.history import History
from ui.context import AppContext

STARTER_LLM = "smollm2-135m-instruct"


def make_context(folder: Path) -> AppContext:
    """An AppContext on its own history database and INI settings file."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    return AppContext(History(folder / "workbench.db"), settings)


class _Page(Protocol):
    def resize(self, width: int, height: int) -> None: ...
    def show(self) -> None: ...
    def shutdown(self) -> None: ...


PageT = TypeVar("PageT", bound=_Page)


@contextmanager
def shown_page(make: Callable[[AppContext], PageT], folder: Path, size: tuple[int, int],
               settings: Mapping[str, object] | None = None) -> Iterator[PageT]:
    """A page on its own context (``make_context(folder)`` with ``settings`` set), shown at ``size``.

    On leaving, the page shuts down, the background tasks are let finish (the device probe is a subprocess:
    nothing may outlive the test module) and the context closes.
    """
    context = make_context(folder)
    for key, value in (settings or {}).items():
        context.settings.setValue(key, value)
    page = make(context)
    page.resize(*size)
    page.show()
    try:
        yield page
    finally:
        page.shutdown()
        wait_for(lambda: context.tasks.active_count == 0, 180, "background tasks (device probe) to end")
        context.shutdown()


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    """Run the Qt event loop until ``condition()`` is true; fail after ``timeout`` seconds."""
    app = QApplication.instance()
    assert app is not None
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def fake_hub_module() -> ModuleType:
    """The model-manager tests' loopback Hub server (tests/app/models/fake_hub_server.py)."""
    name = "fake_hub_server"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "app" / "models" / "fake_hub_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_HUB_PROCESS_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("fake_hub_server", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["fake_hub_server"] = module  # dataclasses look their module up here
spec.loader.exec_module(module)
hub = module.FakeHub()
hub.add_repo(sys.argv[2], {sys.argv[3]: module.tiny_gguf(padding=int(sys.argv[4]))}, tags=["gguf"])
hub.add_fault(module.Fault("/blobs/", chunk_delay_s=float(sys.argv[5]), times=100))
hub.start()
print(hub.url, flush=True)
sys.stdin.read()  # until the test closes our stdin
hub.stop()
"""


class FakeHubProcess:
    """The fake Hub in a process of its own (the real Hub is never inside the GUI process either)."""

    def __init__(self, repo: str, filename: str, size: int, chunk_delay_s: float) -> None:
        import subprocess

        path = Path(__file__).parents[1] / "app" / "models" / "fake_hub_server.py"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HUB_PROCESS_SCRIPT, str(path), repo, filename, str(size), str(chunk_delay_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError("the fake Hub process did not start")

    def close(self) -> None:
        """Stop the server and wait for its process."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except Exception:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


_REFERENCE_SCRIPT = """
import sys, time
with open(sys.argv[1], "w") as out:
    while True:
        time.sleep(0.005)
        out.write(f"{time.perf_counter()}\\n")
        out.flush()
"""


class ReferenceHeartbeat:
    """A 5 ms heartbeat in a separate process: when it stalls too, the machine (not our UI thread) was busy.

    ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, so its ticks line up with the UI thread's.
    """

    def __init__(self, folder: Path) -> None:
        import subprocess

        self.path = folder / "reference-heartbeat.txt"
        self.process = subprocess.Popen([sys.executable, "-c", _REFERENCE_SCRIPT, str(self.path)])

    def stop(self) -> list[float]:
        """End the process; its tick times."""
        self.process.terminate()
        self.process.wait(timeout=10)
        text = self.path.read_text() if self.path.exists() else ""
        return [float(line) for line in text.splitlines() if line.strip()]


def attributable_stalls(ui_ticks: list[float], reference_ticks: list[float], *, busy_ms: float = 25.0,
                        ) -> tuple[list[float], list[float]]:
    """Split the UI thread's gaps (ms) into those the reference process did not share and those it did.

    A UI gap is excused when the reference heartbeat, sleeping 5 ms at a time in its own process, also went
    more than ``busy_ms`` without a tick during that gap: then no normal process got the CPU.
    """
    import bisect

    own: list[float] = []
    shared: list[float] = []
    for start, end in itertools.pairwise(ui_ticks):
        gap = (end - start) * 1000
        first = max(bisect.bisect_left(reference_ticks, start) - 1, 0)
        last = min(bisect.bisect_right(reference_ticks, end), len(reference_ticks) - 1)
        window = reference_ticks[first: last + 1]
        reference_gap = max(((b - a) * 1000 for a, b in itertools.pairwise(window)
                             if b > start and a < end), default=0.0)
        (shared if reference_gap > busy_ms else own).append(gap)
    return own, shared
