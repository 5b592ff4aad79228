"""Dropped files and folders: which local paths a drag carries (the engine walks folders itself)."""

from __future__ import annotations

from PySide6.QtCore import QMimeData

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff *.ppm *.pgm);;All files (*)"


def dropped_paths(mime: QMimeData) -> list[str]:
    """Local files and folders in a drag, in order, without duplicates; remote URLs are ignored."""
    seen: list[str] = []
    if not mime.hasUrls():
        return seen
    for url in mime.urls():
        if url.isLocalFile():
            path = url.toLocalFile()
            if path and path not in seen:
                seen.append(path)
    return seen
