"""The log panel: warnings from the engine and every frame that failed, newest last."""

from __future__ import annotations

import contextlib
import logging
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QTextCharFormat
from PySide6.QtWidgets import QPlainTextEdit, QWidget

_MAX_LINES = 5000
_COLOURS = {logging.WARNING: "#e0a030", logging.ERROR: "#ff6b6b"}


class LogPanel(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(_MAX_LINES)
        self.setPlaceholderText("Warnings and frames that failed to render appear here.")

    def add(self, level: int, message: str) -> None:
        fmt = QTextCharFormat()
        if level in _COLOURS:
            fmt.setForeground(QColor(_COLOURS[level]))
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not self.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(f"{time.strftime('%H:%M:%S')}  {message}", fmt)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()


class LogBridge(QObject):
    """A logging handler's way into the GUI thread: records may come from any worker."""

    record = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.handler = _Handler(self)


class _Handler(logging.Handler):
    def __init__(self, bridge: LogBridge) -> None:
        super().__init__(logging.WARNING)
        self._bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        # RuntimeError: the panel is gone (the window is closing), nowhere to show it.
        with contextlib.suppress(RuntimeError):
            self._bridge.record.emit(record.levelno, record.getMessage())
