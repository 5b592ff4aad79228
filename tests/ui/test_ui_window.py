"""The main window: every page opens lazily (a broken page shows why), geometry and the last page persist,
gauges and the device picker fill, themes apply, and the window starts fast without heavy imports."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import make_context, wait_for
from PySide6.QtWidgets import QApplication

from ui.context import AppContext
from ui.main_window import PAGE_KEYS, MainWindow, PageEntry, PlaceholderPage, build_page
from ui.theme import apply_theme, is_dark, resolve
from ui.widgets.device_picker import DevicePicker, filter_devices
from ui.widgets.live_plot import RingBuffer

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def context(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    """One context (history + settings) shared by the windows of this module."""
    shared = make_context(tmp_path_factory.mktemp("window"))
    yield shared
    wait_for(lambda: shared.devices, 180, "the device probe")  # a subprocess: let it end in this module
    shared.shutdown()


def test_ring_buffer_keeps_the_newest_points_in_order() -> None:
    buffer = RingBuffer(3)
    for t in range(5):
        buffer.append(t, t * 10)
    times, values = buffer.arrays()
    assert list(times) == [2, 3, 4] and list(values) == [20, 30, 40]


def test_a_broken_page_becomes_a_placeholder_with_the_reason(context: AppContext) -> None:
    missing = build_page(PageEntry("x", "Missing", "ui.does_not_exist.page:Page"), context)
    assert isinstance(missing, PlaceholderPage) and "ModuleNotFoundError" in missing.error
    wrong = build_page(PageEntry("y", "Wrong", "ui.main_window:PlaceholderPage"), context)
    assert isinstance(wrong, PlaceholderPage) and "TypeError" in wrong.error
    missing.deleteLater()
    wrong.deleteLater()


def test_pages_open_lazily_and_geometry_and_last_page_persist(context: AppContext) -> None:
    window = MainWindow(context, page="history")
    window.resize(701, 503)  # within the offscreen screen (800 x 600), which restoring clamps to
    assert window.pages == {}  # nothing is built before the window is drawn
    window.show()
    wait_for(lambda: "history" in window.pages, 10, "the first page")
    assert set(window.pages) == {"history"} and window.stack.currentWidget() is window.pages["history"]
    window.open_page("models")
    assert set(window.pages) == {"history", "models"} and window.current_page == "models"
    size = (window.width(), window.height())
    wait_for(lambda: window.gauges.last is not None, 20, "a gauge reading")
    assert window.gauges.cpu.value.text().endswith("%") and "GiB" in window.gauges.ram.value.text()
    window.close()
    assert window.pages["history"]._closed  # type: ignore[attr-defined]
    assert not window.gauges._timer.isActive()

    context.closed = False  # closing shut the shared context down; this module reuses it
    again = MainWindow(context)
    again.show()
    assert again.current_page == "models"
    assert (again.width(), again.height()) == size
    for key in PAGE_KEYS:
        page = again.open_page(key)
        assert again.stack.currentWidget() is page and again.current_page == key
    for key in ("chat", "models", "history", "settings"):
        assert not isinstance(again.pages[key], PlaceholderPage), getattr(again.pages[key], "error", "")
    again.shutdown()
    assert again.pages["chat"]._closed  # type: ignore[attr-defined]
    context.closed = False


def test_device_picker_lists_cpu_first_and_the_probed_devices(context: AppContext) -> None:
    picker = DevicePicker(context, engine="vision")
    assert picker.device_ids() == ["cpu"] or picker.device_ids()[0] == "cpu"
    context.probe_devices()
    wait_for(lambda: context.devices, 180, "the device probe")
    assert picker.device_ids()[0] == "cpu"
    assert all(not d.startswith("ort:Azure") for d in picker.device_ids())
    expected = [d.id for d in filter_devices(context.devices, ("cpu", "torch", "onnxruntime"))]
    assert picker.device_ids() == expected
    picker.set_device(expected[-1])
    assert picker.current_device() == expected[-1]
    picker.deleteLater()


def test_themes_apply(qapp: QApplication) -> None:
    assert apply_theme(qapp, "dark") == "dark" and is_dark()
    assert apply_theme(qapp, "light") == "light" and not is_dark()
    assert resolve("system") in ("light", "dark")


def test_window_starts_fast_without_heavy_imports() -> None:
    spec = importlib.util.spec_from_file_location("bench_startup", ROOT / "bench" / "startup.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure(runs=2)
    assert result["heavy_modules"] == [], result
    # 2 s on this machine when it is not shared; when other work slows even a bare Qt window down (its
    # unloaded time here is about 0.5 s from launch), the limit scales with it.
    limit = 2.0 * max(1.0, min(result["bare_s"]) / 0.5)
    assert min(result["app_s"]) < limit, result
