"""The Server page: start/stop the OpenAI-compatible server in this process, its address, the loaded
models, live requests (queued / running) with TTFT, system tokens/s, and the request log.

The server runs on a background thread over the window's own model service, so a chat in the window and
API clients share loaded models. Tables refresh from snapshots twice a second, never per token.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.server.rows import LIVE_COLUMNS, LOG_COLUMNS, SLOT_COLUMNS, live_row, log_row, slot_row, summary
from ui.widgets.readonly_table import readonly_table, set_cells

REFRESH_MS = 500
HOST_KEY, PORT_KEY = "server/host", "server/port"


class ServerPage(QWidget):
    """Start/stop and watch the local API server."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.server: Any = None  # server.runner.ServerThread while running
        self._starting = False

        title = QLabel("Local server")
        title.setObjectName("pageTitle")
        self.host = QLineEdit(str(context.settings.value(HOST_KEY, "127.0.0.1")))
        self.host.setToolTip("127.0.0.1: this machine only. Any other address needs an API key.")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(int(context.settings.value(PORT_KEY, 1234)))
        self.port.setToolTip("0 picks any free port")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("optional on 127.0.0.1; required on any other address")
        self.cors = QLineEdit()
        self.cors.setPlaceholderText("browser origins allowed, comma separated (off when empty)")
        self.start_button = QPushButton("Start server")
        self.start_button.clicked.connect(self.toggle)
        self.copy_button = QPushButton("Copy address")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._copy_address)
        self.status = QLabel(summary(None, 0.0, [], 0))
        self.status.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("API key", self.api_key)
        form.addRow("CORS origins", self.cors)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)

        self.slots = readonly_table(SLOT_COLUMNS)
        self.live = readonly_table(LIVE_COLUMNS)
        self.log = readonly_table(LOG_COLUMNS)
        split = QSplitter(Qt.Orientation.Vertical)
        for label, table in (("Loaded models", self.slots), ("Live requests", self.live),
                             ("Request log (newest first)", self.log)):
            box = QGroupBox(label)
            inner = QVBoxLayout(box)
            inner.addWidget(table)
            split.addWidget(box)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # --- start / stop ---------------------------------------------------------------------------
    @property
    def address(self) -> str | None:
        """The base URL while serving."""
        return self.server.address if self.server is not None and self.server.running else None

    def toggle(self) -> None:
        """Start when stopped, stop when running."""
        if self._starting:
            return
        if self.server is not None:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        """Start on a background task (importing FastAPI and binding take a moment)."""
        from server.config import ServerConfig

        origins = tuple(o.strip() for o in self.cors.text().split(",") if o.strip())
        config = ServerConfig(host=self.host.text().strip() or "127.0.0.1", port=self.port.value(),
                              api_key=self.api_key.text() or None, cors_origins=origins)
        self.error.hide()
        self._starting = True
        self.start_button.setEnabled(False)
        self.start_button.setText("Starting…")
        service = self.context.service

        def work(_state: Any) -> Any:
            from server.runner import ServerThread

            return ServerThread(service, config).start()

        self.context.tasks.run(work, on_done=self._started, on_error=self._failed)

    def _started(self, server: Any) -> None:
        self._starting = False
        self.server = server
        self.context.settings.setValue(HOST_KEY, server.config.host)
        self.context.settings.setValue(PORT_KEY, self.port.value())
        self._set_running(True)
        self.refresh()

    def _failed(self, message: str, _trace: str) -> None:
        self._starting = False
        self._set_running(False)
        self.error.setText(f"The server did not start: {message}")
        self.error.show()

    def stop(self) -> None:
        """Stop listening (requests in flight are cancelled as their connections close)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        self._set_running(False)
        self.refresh()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(True)
        self.start_button.setText("Stop server" if running else "Start server")
        self.copy_button.setEnabled(running)
        for field in (self.host, self.port, self.api_key, self.cors):
            field.setEnabled(not running)

    def _copy_address(self) -> None:
        if self.address is not None:
            QGuiApplication.clipboard().setText(self.address + "/v1")

    # --- live view ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the tables and the summary from snapshots."""
        if self.context.closed:
            return
        set_cells(self.slots, [slot_row(s) for s in self.context.service.slots()])
        if self.server is None:
            self.status.setText(summary(None, 0.0, [], 0))
            set_cells(self.live, [])
            return
        activity = self.server.activity
        live = activity.live()
        set_cells(self.live, [live_row(r) for r in live])
        set_cells(self.log, [log_row(r) for r in reversed(activity.log())])
        self.status.setText(summary(self.address, activity.tokens_per_s(), live, activity.total))

    def shutdown(self) -> None:
        """Stop the server and the refresh timer (the window is closing)."""
        self.timer.stop()
        self.stop()
