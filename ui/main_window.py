"""The main window: a sidebar of pages created lazily, a status bar with live machine gauges.

Pages are found by dotted path in :data:`PAGES`; a page whose module fails to import or construct shows a
placeholder with the reason instead of taking the window down. Geometry and the last page persist in
QSettings; closing the window calls every page's ``shutdown()`` and then the context's.
"""

from __future__ import annotations

import gc
import importlib
import traceback
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QPaintEvent, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.widgets.device_picker import ensure_devices
from ui.widgets.gauges import ResourceGauges


@dataclass(frozen=True)
class PageEntry:
    """One sidebar entry: its key, the title shown and the ``module:Class`` that builds it."""

    key: str
    title: str
    target: str


PAGES: tuple[PageEntry, ...] = (
    PageEntry("chat", "Chat", "ui.chat.page:ChatPage"),
    PageEntry("classify", "Classify", "ui.classify.page:ClassifyPage"),
    PageEntry("bayes", "Bayes", "ui.bayes.page:BayesPage"),
    PageEntry("models", "Models", "ui.models.page:ModelsPage"),
    PageEntry("compare", "Compare", "ui.compare.page:ComparePage"),
    PageEntry("history", "History", "ui.history.page:HistoryPage"),
    PageEntry("server", "Server", "ui.server.page:ServerPage"),
    PageEntry("settings", "Settings", "ui.settings.page:SettingsPage"),
)
PAGE_KEYS = tuple(entry.key for entry in PAGES)
DEFAULT_PAGE = "chat"


class PlaceholderPage(QWidget):
    """Stands in for a page that failed to load, saying why."""

    def __init__(self, title: str, error: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error = error
        layout = QVBoxLayout(self)
        heading = QLabel(f"The {title} page failed to load")
        heading.setObjectName("pageTitle")
        reason = QLabel(error)
        reason.setWordWrap(True)
        reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        trace = QPlainTextEdit(details)
        trace.setReadOnly(True)
        layout.addWidget(heading)
        layout.addWidget(reason)
        layout.addWidget(trace, 1)

    def shutdown(self) -> None:
        """Nothing to stop."""


def build_page(entry: PageEntry, context: AppContext, parent: QWidget | None = None) -> QWidget:
    """Import and construct a page; a placeholder with the reason when that fails."""
    module_name, _, class_name = entry.target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        page: QWidget = cls(context, parent)
    except Exception as exc:
        return PlaceholderPage(entry.title, f"{type(exc).__name__}: {exc}", traceback.format_exc(), parent)
    return page


class MainWindow(QMainWindow):
    """Sidebar + stacked pages + status bar gauges."""

    first_painted = Signal()  # once, when the window is first drawn (the start-up benchmark waits for it)

    def __init__(self, context: AppContext, page: str | None = None, parent: QWidget | None = None, *,
                 freeze_gc: bool = False) -> None:
        super().__init__(parent)
        self.context = context
        self.freeze_gc = freeze_gc  # the app sets it (ui.app.run_gui); tests that share a process do not
        self.setWindowTitle("Local AI Workbench")
        self.pages: dict[str, QWidget] = {}
        self._closed = False

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(150)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for index, entry in enumerate(PAGES):
            item = QListWidgetItem(entry.title)
            item.setData(Qt.ItemDataRole.UserRole, entry.key)
            item.setToolTip(f"{entry.title} (Ctrl+{index + 1})")
            self.sidebar.addItem(item)
        self.stack = QStackedWidget()
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        self.notice = self._notice_banner(context.notices)
        right.addWidget(self.notice)
        right.addWidget(self.stack, 1)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)

        self.gauges = ResourceGauges(context.tasks)
        self.statusBar().addPermanentWidget(self.gauges)
        self.statusBar().setSizeGripEnabled(True)

        for index, entry in enumerate(PAGES):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
            shortcut.activated.connect(lambda key=entry.key: self.open_page(key))

        self._painted = False
        self.sidebar.currentRowChanged.connect(self._row_changed)
        self._restore_geometry()
        saved = str(context.settings.value("window/page", DEFAULT_PAGE))
        first = page if page in PAGE_KEYS else saved if saved in PAGE_KEYS else DEFAULT_PAGE
        # The sidebar marks the page at once; the page itself is built as soon as the window is drawn
        # (or shortly, if it is never shown), so the window appears without waiting for it.
        self.sidebar.blockSignals(True)
        self.sidebar.setCurrentRow(PAGE_KEYS.index(first))
        self.sidebar.blockSignals(False)
        self.first_painted.connect(self._build_first_page, Qt.ConnectionType.QueuedConnection)
        QTimer.singleShot(250, self, self._build_first_page)

    def _notice_banner(self, notices: list[str]) -> QWidget:
        """A banner over the pages for what went wrong opening the data (hidden when nothing did)."""
        banner = QWidget()
        banner.setObjectName("noticeBanner")
        banner.setStyleSheet("#noticeBanner { background: #fff3cd; } #noticeBanner QLabel { color: #664d03; }")
        row = QHBoxLayout(banner)
        row.setContentsMargins(12, 6, 12, 6)
        self.notice_label = QLabel("\n".join(f"⚠ {text}" for text in notices))
        self.notice_label.setWordWrap(True)
        self.notice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(banner.hide)
        row.addWidget(self.notice_label, 1)
        row.addWidget(dismiss)
        banner.setVisible(bool(notices))
        if notices:
            self.statusBar().showMessage(notices[0], 15000)
        return banner

    # --- pages ----------------------------------------------------------------------------------
    def open_page(self, key: str) -> QWidget:
        """Show the page ``key`` (creating it on first use) and select it in the sidebar."""
        if key not in PAGE_KEYS:
            raise KeyError(f"no page {key!r}; pages: {', '.join(PAGE_KEYS)}")
        row = PAGE_KEYS.index(key)
        if self.sidebar.currentRow() != row:
            self.sidebar.setCurrentRow(row)  # calls back into _row_changed
        return self._show(key)

    def _build_first_page(self) -> None:
        if not self.pages:
            self._show(self.current_page)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(PAGES):
            self._show(PAGES[row].key)

    def _show(self, key: str) -> QWidget:
        if self._closed:
            return self.pages.get(key) or QWidget()
        page = self.pages.get(key)
        if page is None:
            entry = PAGES[PAGE_KEYS.index(key)]
            page = build_page(entry, self.context, self.stack)
            self.pages[key] = page
            self.stack.addWidget(page)
            if self.freeze_gc:
                # What exists once a page is built lives as long as the window: keep the collector from
                # walking it again and again (a full collection stalls the UI thread for tens of ms).
                QTimer.singleShot(0, self, gc.freeze)
        if self.stack.currentWidget() is not page:
            self.stack.setCurrentWidget(page)
            self.context.settings.setValue("window/page", key)
            self.statusBar().showMessage(PAGES[PAGE_KEYS.index(key)].title, 1500)
        return page

    @property
    def current_page(self) -> str:
        """The key of the page on show."""
        row = self.sidebar.currentRow()
        return PAGES[row].key if 0 <= row < len(PAGES) else DEFAULT_PAGE

    # --- persistence ----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = self.context.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and self.restoreGeometry(QByteArray(geometry)):
            return
        screen = QGuiApplication.primaryScreen()
        room = screen.availableSize() if screen is not None else None
        width, height = 1280, 820
        if room is not None and room.width() > 400:
            width, height = min(width, int(room.width() * 0.92)), min(height, int(room.height() * 0.92))
        self.resize(width, height)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Say when the window was first drawn."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    def showEvent(self, event: QShowEvent) -> None:
        """Probe devices once the window is up, so the probe never delays the first paint."""
        super().showEvent(event)
        QTimer.singleShot(1500, self, self._probe_devices)

    def _probe_devices(self) -> None:
        if not self._closed:
            ensure_devices(self.context)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save geometry, shut every page and the context down."""
        self.context.settings.setValue("window/geometry", self.saveGeometry())
        self.context.settings.setValue("window/page", self.current_page)
        self.context.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every page's sessions and timers, then the context (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.gauges.stop()
        for page in self.pages.values():
            stop: Any = getattr(page, "shutdown", None)
            if callable(stop):
                try:
                    stop()
                except Exception:
                    traceback.print_exc()
        self.context.shutdown()
