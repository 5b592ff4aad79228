"""The Settings page: theme, engine threads, Hub endpoint and token, download folder, data folder, devices.

Everything is stored in QSettings (read by the pages) except the Hub token, which the model manager keeps
in an owner-only file; reading and writing it, and measuring the data folder, run on the task runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.preferences import CACHE_KEY, ENDPOINT_KEY, THREADS_KEY, engine_threads
from ui.settings.cluster import ClusterBox
from ui.theme import THEME_KEY, THEMES, apply_theme
from ui.widgets.boxes import row_of
from ui.widgets.device_picker import ensure_devices
from ui.widgets.readonly_table import readonly_table, set_cells


def database_files_bytes(database: Path) -> int:
    """The history's size on disk: the file plus its write-ahead log and shared-memory index.

    In WAL mode recent runs live in ``-wal`` until a checkpoint, so the main file alone can read 0 MB.
    """
    total = 0
    for suffix in ("", "-wal", "-shm"):
        part = database.with_name(database.name + suffix)
        if part.is_file():
            total += part.stat().st_size
    return total


def data_facts(history: Any = None) -> dict[str, Any]:
    """Where the data lives and how big it is, plus the token's masked form (runs in the background)."""
    from app.models.tokens import load_token, mask
    from core import paths
    from core.thread_env import default_threads

    home = paths.home()
    where = str(getattr(history, "path", "") or "")
    database = Path(where) if where and where != ":memory:" else paths.database_path()
    size = sum(f.stat().st_size for f in home.rglob("*") if f.is_file())
    try:
        token = mask(load_token())
    except Exception as exc:
        token = f"unreadable: {getattr(exc, 'message', exc)}"
    runs = None
    if history is not None:
        try:
            runs = int(history.db["runs"].count)
        except Exception:
            runs = None  # a history that cannot be read still shows its size
    return {"home": str(home), "database": str(database), "database_bytes": database_files_bytes(database),
            "runs": runs, "unrecorded": getattr(history, "unrecorded", None),
            "home_bytes": size, "token": token, "default_threads": default_threads()}


class SettingsPage(QWidget):
    """Settings grouped by what they change."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.settings = context.settings
        self.facts: dict[str, Any] = {}
        self.last_message = ""
        body = QWidget()
        layout = QVBoxLayout(body)
        title = QLabel("Settings")
        title.setObjectName("pageTitle")
        layout.addWidget(title)
        layout.addWidget(self._appearance())
        layout.addWidget(self._engines())
        layout.addWidget(self._models())
        layout.addWidget(self._data())
        layout.addWidget(self._devices(), 1)
        self.cluster = ClusterBox(self.context)
        layout.addWidget(self.cluster)
        self.message = QLabel("")
        self.message.setObjectName("muted")
        layout.addWidget(self.message)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        context.devices_ready.connect(self._show_devices)
        context.devices_failed.connect(lambda message: self._say(f"Device probe failed: {message}"))
        self._show_devices(context.devices)
        ensure_devices(context)
        self.refresh_facts()

    # --- groups ---------------------------------------------------------------------------------
    def _appearance(self) -> QGroupBox:
        box = QGroupBox("Appearance")
        form = QFormLayout(box)
        self.theme = QComboBox()
        for mode in THEMES:
            self.theme.addItem({"system": "Follow the system", "light": "Light", "dark": "Dark"}[mode], mode)
        self.theme.setCurrentIndex(max(self.theme.findData(str(self.settings.value(THEME_KEY, "system"))), 0))
        self.theme.currentIndexChanged.connect(lambda _i: self.set_theme(str(self.theme.currentData())))
        form.addRow("Theme", self.theme)
        return box

    def _engines(self) -> QGroupBox:
        box = QGroupBox("Engines")
        form = QFormLayout(box)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(engine_threads(self.settings) or 0)
        self.threads.setToolTip("Threads per engine worker. Automatic uses the physical cores measured "
                                "(one on small VMs, where more threads run slower).")
        self.threads.valueChanged.connect(lambda value: self._store(THREADS_KEY, value))
        self.threads_note = QLabel("")
        self.threads_note.setObjectName("muted")
        form.addRow("Threads", row_of(self.threads, self.threads_note, stretch=self.threads_note))
        return box

    def _models(self) -> QGroupBox:
        box = QGroupBox("Models and the Hugging Face Hub")
        form = QFormLayout(box)
        self.endpoint = QLineEdit(str(self.settings.value(ENDPOINT_KEY, "") or ""))
        self.endpoint.setPlaceholderText("https://huggingface.co (or a mirror)")
        self.endpoint.editingFinished.connect(lambda: self._store(ENDPOINT_KEY, self.endpoint.text().strip()))
        self.cache = QLineEdit(str(self.settings.value(CACHE_KEY, "") or ""))
        self.cache.setPlaceholderText("the standard Hugging Face cache (shared with other tools)")
        self.cache.editingFinished.connect(lambda: self._store(CACHE_KEY, self.cache.text().strip()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_cache)
        self.token_state = QLabel("…")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (for gated or private models)")
        save = QPushButton("Save token")
        clear = QPushButton("Forget token")
        save.clicked.connect(lambda: self.save_token(self.token.text()))
        clear.clicked.connect(self.clear_token)
        form.addRow("Hub address", self.endpoint)
        form.addRow("Download folder", row_of(self.cache, browse, stretch=self.cache))
        form.addRow("Stored token", self.token_state)
        form.addRow("Token", row_of(self.token, save, clear, stretch=self.token))
        return box

    def _data(self) -> QGroupBox:
        box = QGroupBox("Data")
        form = QFormLayout(box)
        self.home_label = QLabel("…")
        self.database_label = QLabel("…")
        open_button = QPushButton("Open data folder")
        open_button.clicked.connect(self._open_home)
        form.addRow("Data folder", self.home_label)
        form.addRow("History database", self.database_label)
        form.addRow("", open_button)
        return box

    def _devices(self) -> QGroupBox:
        box = QGroupBox("Devices (the ids of `workbench devices`)")
        layout = QVBoxLayout(box)
        self.devices = readonly_table(["Id", "Backend", "Kind", "Name", "Memory"])
        self.devices.setMinimumHeight(150)
        self.versions = QLabel("")
        self.versions.setObjectName("muted")
        self.versions.setWordWrap(True)
        probe = QPushButton("Probe again")
        probe.clicked.connect(lambda: self.context.probe_devices(refresh=True))
        layout.addWidget(self.devices, 1)
        layout.addWidget(self.versions)
        layout.addWidget(probe)
        return box

    # --- actions --------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.setText(text)

    def _store(self, key: str, value: Any) -> None:
        self.settings.setValue(key, value)
        self._say("Saved. New engine workers and downloads use it.")

    def set_theme(self, mode: str) -> None:
        """Switch theme now and remember it."""
        self.settings.setValue(THEME_KEY, mode)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            used = apply_theme(app, mode)
            self._say(f"Theme: {used}")

    def _browse_cache(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Download folder")
        if path:
            self.cache.setText(path)
            self._store(CACHE_KEY, path)

    def _open_home(self) -> None:
        if self.facts.get("home"):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.facts["home"]))

    def refresh_facts(self) -> None:
        """Measure the data folder and read the token state in the background."""
        history = self.context.history
        self.context.tasks.run(lambda _s: data_facts(history), on_done=self._show_facts,
                               on_error=lambda message, _tb: self._say(message))

    def _show_facts(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        from app.text_table import human_bytes

        self.home_label.setText(f"{facts['home']} ({human_bytes(facts['home_bytes'])})")
        runs = f", {facts['runs']} runs" if facts.get("runs") is not None else ""
        database = f"{facts['database']} ({human_bytes(facts['database_bytes'])}{runs})"
        if facts.get("unrecorded"):
            database = f"not recording: {facts['unrecorded']}"
        self.database_label.setText(database)
        self.token_state.setText(facts["token"])
        self.threads_note.setText(f"automatic = {facts['default_threads']} on this machine")

    def save_token(self, token: str) -> None:
        """Store a Hub token (owner-only file)."""
        from app.models.tokens import save_token

        def done(_path: Any) -> None:
            self.token.clear()
            self._say("Token saved")
            self.refresh_facts()

        self.context.tasks.run(lambda _s: save_token(token), on_done=done,
                               on_error=lambda message, _tb: self._say(message.split(": ", 1)[-1]))

    def clear_token(self) -> None:
        """Forget the stored Hub token."""
        from app.models.tokens import clear_token

        def done(had: Any) -> None:
            self._say("Token forgotten" if had else "No token was stored")
            self.refresh_facts()

        self.context.tasks.run(lambda _s: clear_token(), on_done=done, on_error=lambda m, _tb: self._say(m))

    def _show_devices(self, devices: list[Any]) -> None:
        set_cells(self.devices, [[str(d.id), str(d.backend), str(d.kind), str(d.name),
                                  f"{d.memory_bytes / 2**30:.1f} GiB" if d.memory_bytes else ""] for d in devices])
        versions = self.context.device_report.get("versions") or {}
        if versions:
            self.versions.setText(" · ".join(f"{name} {version}" for name, version in versions.items()))

    def shutdown(self) -> None:
        """Nothing runs on its own here."""
