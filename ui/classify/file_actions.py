"""The Classify page's file dialogs, drops and remembered folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QWidget

from ui.classify.drop import IMAGE_FILTER, dropped_paths

EVAL_TAB = 1


class FileActions(QWidget):
    """Mixed into :class:`ui.classify.page.ClassifyPage`, which provides the actions and widgets used here."""

    context: Any
    tabs: Any
    eval_panel: Any

    def classify(self, paths: list[str]) -> None:
        """Provided by ClassifyPage."""
        raise NotImplementedError

    def evaluate(self, folder: str) -> None:
        """Provided by ClassifyPage."""
        raise NotImplementedError

    def export_results(self, path: str) -> None:
        """Provided by ClassifyPage."""
        raise NotImplementedError

    def export_evaluation(self, path: str) -> None:
        """Provided by ClassifyPage."""
        raise NotImplementedError

    # --- file dialogs and drops ----------------------------------------------------------------
    def _open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Classify images", self._last_dir(), IMAGE_FILTER)
        if paths:
            self._remember_dir(paths[0])
            self.classify(paths)

    def _open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Classify a folder", self._last_dir())
        if folder:
            self._remember_dir(folder)
            self.classify([folder])

    def _open_eval_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Evaluate a labelled folder", self._last_dir())
        if folder:
            self._remember_dir(folder)
            self.evaluate(folder)

    def _export_dialog(self) -> None:
        evaluation = self.tabs.currentIndex() == EVAL_TAB and self.eval_panel.result is not None
        title = "Export the evaluation" if evaluation else "Export the results"
        path, chosen = QFileDialog.getSaveFileName(self, title, str(Path(self._last_dir()) / (
            "evaluation.csv" if evaluation else "classified.csv")), "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".json" if "json" in chosen.lower() else ".csv"
        if evaluation:
            self.export_evaluation(path)
        else:
            self.export_results(path)

    def _last_dir(self) -> str:
        return str(self.context.settings.value("classify/last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        folder = path if Path(path).is_dir() else str(Path(path).parent)
        self.context.settings.setValue("classify/last_dir", folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags that carry local files or folders."""
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Classify what was dropped."""
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self._remember_dir(paths[0])
            self.classify(paths)
