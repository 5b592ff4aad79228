"""Light and dark themes: follow the system colour scheme unless the user picked one in Settings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEME_KEY = "ui/theme"  # QSettings key: "system" | "light" | "dark"
THEMES = ("system", "light", "dark")
PALETTE = ("#3b82f6", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#eab308")  # series colours of graphs

_DARK = {
    QPalette.ColorRole.Window: "#1f2126", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#17191d", QPalette.ColorRole.AlternateBase: "#23262c",
    QPalette.ColorRole.ToolTipBase: "#2b2e35", QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2a2d34",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#6ea8ff", QPalette.ColorRole.Highlight: "#3b82f6",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#8a8f98",
    QPalette.ColorRole.Mid: "#3a3d45", QPalette.ColorRole.Midlight: "#32353c",
    QPalette.ColorRole.Dark: "#141518", QPalette.ColorRole.Shadow: "#000000",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.WindowText: "#1d1f23",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f0f2f5",
    QPalette.ColorRole.ToolTipBase: "#ffffe1", QPalette.ColorRole.ToolTipText: "#1d1f23",
    QPalette.ColorRole.Text: "#1d1f23", QPalette.ColorRole.Button: "#e9ebef",
    QPalette.ColorRole.ButtonText: "#1d1f23", QPalette.ColorRole.BrightText: "#d00000",
    QPalette.ColorRole.Link: "#1d5fd1", QPalette.ColorRole.Highlight: "#3b82f6",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#8a8f98",
    QPalette.ColorRole.Mid: "#c8ccd3", QPalette.ColorRole.Midlight: "#dde0e5",
    QPalette.ColorRole.Dark: "#a0a5ad", QPalette.ColorRole.Shadow: "#5a5e66",
}

_STYLE = """
QListWidget#sidebar { border: none; padding-top: 6px; background: %(sidebar)s; font-size: 14px; }
QListWidget#sidebar::item { padding: 9px 14px; border-radius: 6px; margin: 1px 6px; }
QListWidget#sidebar::item:selected { background: %(accent)s; color: white; }
QLabel#pageTitle { font-size: 17px; font-weight: 600; }
QLabel#muted { color: %(muted)s; }
QFrame#banner { background: %(banner)s; border: 1px solid %(banner_border)s; border-radius: 6px; }
QStatusBar QLabel { padding: 0 6px; }
"""


def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (Qt 6.5+ reads it from the platform)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def resolve(mode: str) -> str:
    """``light`` or ``dark`` for a setting of ``system``, ``light`` or ``dark``."""
    if mode == "dark" or (mode not in ("light", "dark") and system_is_dark()):
        return "dark"
    return "light"


def is_dark() -> bool:
    """True when the current palette is dark (pages pick graph and Markdown colours from it)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def build_palette(dark: bool) -> QPalette:
    """The palette of one theme."""
    palette = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6b7079") if dark else QColor("#9aa0a8")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication, mode: str = "system") -> str:
    """Style the whole application; returns the theme used (``light`` or ``dark``)."""
    chosen = resolve(mode)
    dark = chosen == "dark"
    app.setStyle("Fusion")
    app.setPalette(build_palette(dark))
    app.setStyleSheet(_STYLE % {
        "sidebar": "#17191d" if dark else "#e9ebef", "accent": "#3b82f6",
        "muted": "#8a8f98" if dark else "#6b7079",
        "banner": "#3a2326" if dark else "#fff1f0", "banner_border": "#a33" if dark else "#f2b8b5",
    })
    return chosen


def follow_system(app: QApplication, mode_getter: object) -> None:
    """Re-apply the theme when the desktop switches between light and dark (for the ``system`` setting)."""
    hints = QGuiApplication.styleHints()
    signal = getattr(hints, "colorSchemeChanged", None)
    if signal is None or not callable(mode_getter):
        return

    def changed(*_args: object) -> None:
        mode = str(mode_getter())
        if mode == "system":
            apply_theme(app, mode)

    signal.connect(changed)
