"""No display, nobody to answer: a modal dialog must not wait for ever.

With `--screenshot`, or on a platform that shows nothing (offscreen, minimal), every modal
question gets its default answer and every other modal dialog is closed as cancelled, the
moment it is shown; what was asked and what was answered goes to the log. Progress dialogs are
left alone: closing one would cancel the work it shows.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QProgressDialog

log = logging.getLogger(__name__)

_SILENT_PLATFORMS = ("offscreen", "minimal")
_ACCEPTING = (QMessageBox.ButtonRole.AcceptRole, QMessageBox.ButtonRole.YesRole)


def no_display() -> bool:
    """The platform shows nothing, so no person can see a dialog."""
    return QGuiApplication.platformName() in _SILENT_PLATFORMS


class AutoAnswer(QObject):
    """An application-wide event filter answering modal dialogs as they are shown."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (event.type() == QEvent.Type.Show and isinstance(watched, QDialog)
                and watched.isModal() and not isinstance(watched, QProgressDialog)):
            QTimer.singleShot(0, lambda dialog=watched: _answer(dialog))
        return False


def answer_dialogs(app: QApplication) -> AutoAnswer:
    """Install the auto-answerer on `app`; keep the returned object alive."""
    answerer = AutoAnswer(app)
    app.installEventFilter(answerer)
    return answerer


def _answer(dialog: QDialog) -> None:
    if not dialog.isVisible():
        return
    if isinstance(dialog, QMessageBox):
        button = dialog.defaultButton() or next(
            (b for b in dialog.buttons() if dialog.buttonRole(b) in _ACCEPTING), None
        ) or dialog.escapeButton()
        said = " ".join(dialog.text().split())
        if button is None:
            log.warning("no display: closed %r (%s)", dialog.windowTitle(), said)
            dialog.reject()
            return
        log.warning("no display: %r (%s) answered %r", dialog.windowTitle(), said,
                    button.text().replace("&", ""))
        button.click()
        return
    log.warning("no display: closed the %r dialog unanswered", dialog.windowTitle())
    dialog.reject()
