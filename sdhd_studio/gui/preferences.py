"""Preferences that outlive a session (QSettings), and the dialog that edits them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from sdhd_studio.render.scheduler import default_workers

HEIGHTS = (480, 576, 720, 1080, 1440, 2160)
_RECENT_LIMIT = 10


@dataclass(frozen=True)
class Preferences:
    workers: int = default_workers()
    autosave_seconds: int = 5
    new_project_height: int = 720

    @classmethod
    def load(cls, settings: QSettings) -> Preferences:
        default = cls()
        return cls(
            workers=_int(settings, "render/workers", default.workers, 1, 64),
            autosave_seconds=_int(settings, "autosave/seconds", default.autosave_seconds, 1, 600),
            new_project_height=_int(settings, "new/height", default.new_project_height, 16, 8640),
        )

    def store(self, settings: QSettings) -> None:
        settings.setValue("render/workers", self.workers)
        settings.setValue("autosave/seconds", self.autosave_seconds)
        settings.setValue("new/height", self.new_project_height)


def _int(settings: QSettings, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(settings.value(key, default))
    except (TypeError, ValueError):
        return default
    return value if low <= value <= high else default


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent", [])
    paths = [value] if isinstance(value, str) else list(value or [])
    return [p for p in paths if os.path.exists(p)]


def add_recent_file(settings: QSettings, path: str) -> None:
    paths = [path, *(p for p in recent_files(settings) if p != path)]
    settings.setValue("recent", paths[:_RECENT_LIMIT])


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._workers = QSpinBox(minimum=1, maximum=max(64, os.cpu_count() or 1))
        self._workers.setValue(prefs.workers)
        self._workers.setToolTip(
            f"Frames rendered at once. This computer has {os.cpu_count()} cores; a GPU backend "
            "uses one worker per GPU whatever this says."
        )
        self._autosave = QSpinBox(minimum=1, maximum=600, suffix=" s")
        self._autosave.setValue(prefs.autosave_seconds)
        self._autosave.setToolTip("Unsaved changes are kept safe this long after an edit")
        self._height = QComboBox()
        for height in HEIGHTS:
            self._height.addItem(f"{height}p", height)
        index = self._height.findData(prefs.new_project_height)
        self._height.setCurrentIndex(max(0, index))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Render workers", self._workers)
        form.addRow("Autosave after", self._autosave)
        form.addRow("New projects render to", self._height)
        form.addRow(buttons)

    def preferences(self) -> Preferences:
        return Preferences(
            workers=self._workers.value(),
            autosave_seconds=self._autosave.value(),
            new_project_height=int(self._height.currentData()),
        )
