"""Preferences that outlive a session (QSettings), and the dialog that edits them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from sdhd_studio.ml.devices import PREFERENCES
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.scheduler import default_workers

HEIGHTS = (480, 576, 720, 1080, 1440, 2160)
DEVICES = (
    ("auto", "Automatic"),
    ("cuda", "CUDA GPU"),
    ("mps", "Apple GPU (MPS)"),
    ("cpu", "CPU"),
)
# The smallest tile offered: smaller ones spend more time on overlaps than on the picture.
TILE_MIN, TILE_MAX = 64, 4096
_RECENT_LIMIT = 10


# The upscalers the preview may use for a frame not rendered yet (registry names), with labels.
QUICK_PREVIEWS = (("lanczos", "Lanczos (instant)"), ("realtime", "Realtime x2 net (sharper)"))


@dataclass(frozen=True)
class Preferences:
    workers: int = default_workers()
    autosave_seconds: int = 5
    new_project_height: int = 720
    device: str = "auto"  # one of devices.PREFERENCES
    tile: int = 0  # 0: each backend picks; else TILE_MIN-TILE_MAX input pixels
    farm: str = ""  # a Ray cluster's address (or local[:N]) to render on; "": this computer
    quick_preview: str = "lanczos"  # the upscaler of a frame not rendered yet: QUICK_PREVIEWS

    @property
    def runtime(self) -> Runtime:
        """Where the editor's renders and exports run their learned backends."""
        return Runtime(self.device, self.tile)

    @classmethod
    def load(cls, settings: QSettings) -> Preferences:
        default = cls()
        device = str(settings.value("compute/device", default.device))
        tile = _int(settings, "compute/tile", default.tile, 0, TILE_MAX)
        return cls(
            workers=_int(settings, "render/workers", default.workers, 1, 64),
            autosave_seconds=_int(settings, "autosave/seconds", default.autosave_seconds, 1, 600),
            new_project_height=_int(settings, "new/height", default.new_project_height, 16, 8640),
            device=device if device in PREFERENCES else default.device,
            tile=tile if tile == 0 or tile >= TILE_MIN else default.tile,
            farm=str(settings.value("render/farm", default.farm)).strip(),
            quick_preview=preview if (preview := str(settings.value(
                "preview/upscaler", default.quick_preview))) in dict(QUICK_PREVIEWS)
            else default.quick_preview,
        )

    def store(self, settings: QSettings) -> None:
        settings.setValue("render/workers", self.workers)
        settings.setValue("autosave/seconds", self.autosave_seconds)
        settings.setValue("new/height", self.new_project_height)
        settings.setValue("compute/device", self.device)
        settings.setValue("compute/tile", self.tile)
        settings.setValue("render/farm", self.farm)
        settings.setValue("preview/upscaler", self.quick_preview)


def _choices(items: Iterable[tuple[Any, str]], current: Any) -> QComboBox:
    """A combo box of (value, label) items with `current` chosen (the first if absent)."""
    box = QComboBox()
    for value, label in items:
        box.addItem(label, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


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
        self._height = _choices(((h, f"{h}p") for h in HEIGHTS), prefs.new_project_height)
        self._device = _choices(DEVICES, prefs.device)
        self._device.setToolTip(
            "Where learned backends (Real-ESRGAN, diffusion) run. Automatic prefers a CUDA GPU, "
            "then an Apple GPU, then the CPU. A device this machine lacks makes their frames "
            "fail; the status bar shows what is in use.\nChanging it unloads the loaded models: "
            "the next render loads them on the new device."
        )
        self._tile = QSpinBox(minimum=0, maximum=TILE_MAX, singleStep=TILE_MIN, suffix=" px")
        self._tile.setSpecialValueText("Automatic")  # shown for 0
        self._tile.setValue(prefs.tile)
        self._tile.setToolTip(
            "Learned backends work on tiles of at most this many input pixels a side. Lower it "
            "if the GPU runs out of memory; Automatic lets each backend choose."
        )
        self._tile.editingFinished.connect(lambda: self._tile.setValue(self._tile_value()))
        self._farm = QLineEdit(prefs.farm)
        self._farm.setPlaceholderText("This computer")
        self._farm.setToolTip(
            "Render on a Ray cluster: its address (HOST:6379 or ray://HOST:10001), or local:N "
            "for N worker processes here. The video, the project folder and its cache must be "
            "on storage every machine of the cluster mounts at the same path; needs "
            "sdhd-studio[farm] (docs/FARM.md). Empty: render on this computer."
        )
        self._preview = _choices(QUICK_PREVIEWS, prefs.quick_preview)
        self._preview.setToolTip(
            "What the preview shows for a frame that is not rendered yet. The realtime net "
            "(our own x2, about 4 frames a second at 360p on a CPU) is sharper than Lanczos "
            "(instant) and closer to what a learned upscaler will make."
        )
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Render workers", self._workers)
        form.addRow("Autosave after", self._autosave)
        form.addRow("New projects render to", self._height)
        form.addRow("Compute device", self._device)
        form.addRow("Tile size", self._tile)
        form.addRow("Render farm (Ray)", self._farm)
        form.addRow("Quick preview", self._preview)
        form.addRow(buttons)

    def preferences(self) -> Preferences:
        return Preferences(
            workers=self._workers.value(),
            autosave_seconds=self._autosave.value(),
            new_project_height=int(self._height.currentData()),
            device=str(self._device.currentData()),
            tile=self._tile_value(),
            farm=self._farm.text().strip(),
            quick_preview=str(self._preview.currentData()),
        )

    def _tile_value(self) -> int:
        # The box allows 1-63 to be typed on the way to larger numbers; they mean the minimum.
        value = self._tile.value()
        return 0 if value == 0 else max(TILE_MIN, value)
