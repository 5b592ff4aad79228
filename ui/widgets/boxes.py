"""Margin-less boxes that line widgets up, one of them taking the spare room."""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLayout, QVBoxLayout, QWidget


def _fill(layout: QBoxLayout, items: tuple[QWidget | QLayout, ...], stretch: QWidget | None) -> None:
    for item in items:
        if isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item, 1 if item is stretch else 0)


def column_of(*items: QWidget | QLayout, stretch: QWidget | None = None) -> QWidget:
    """A widget holding ``items`` top to bottom with no margin; ``stretch`` (one of them) gets the spare height."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    _fill(layout, items, stretch)
    return box


def row_of(*items: QWidget | QLayout, stretch: QWidget | None = None) -> QHBoxLayout:
    """A layout holding ``items`` left to right; ``stretch`` (one of them) gets the spare width."""
    layout = QHBoxLayout()
    _fill(layout, items, stretch)
    return layout
