"""The Live window: a capture device, a network stream or a file played in real time, shown
beside its x2 from the `realtime` net, with the achieved frame rate and the frames dropped.

The session (render.live) runs on a worker thread of its own. It hands every processed frame to
`_offer`, which keeps only the newest and asks the UI thread to show it once: if painting falls
behind, older pictures are skipped rather than queued. Recording writes the source beside the
result as NAME-source.mkv, which File › New opens as a project.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.errors import SdhdError
from sdhd_studio.gui.workers import WorkerPool
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.live import LiveFrame, LiveSession, LiveStats, realtime_upscale

log = logging.getLogger(__name__)

_VIDEO_FILES = "Videos (*.mp4 *.mkv *.mov *.avi *.mpg *.mpeg *.ts *.m2ts *.vob *.dv *.webm)"


class _Relay(QObject):
    """What the session's thread reports, delivered on the UI thread (queued)."""

    frame = Signal()  # a newer frame waits in LiveWindow._latest
    ended = Signal(object, str)  # final LiveStats or None, error message ("" when none)


class LiveWindow(QDialog):
    def __init__(self, runtime: Runtime | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Live")
        self.runtime = runtime or Runtime()
        self._pool = WorkerPool(1, self)
        self._relay = _Relay()
        self._relay.frame.connect(self._show_latest)
        self._relay.ended.connect(self._ended)
        self._session: LiveSession | None = None
        self._latest: LiveFrame | None = None
        self._latest_lock = threading.Lock()
        self.last_stats: LiveStats | None = None

        self.source_edit = QLineEdit("/dev/video0" if sys.platform == "linux" else "")
        self.source_edit.setPlaceholderText("a device, a stream URL (rtsp://, http://, udp://) "
                                            "or a video file played in real time")
        browse = QPushButton("File…")
        browse.clicked.connect(self._browse)
        self.record_box = QCheckBox("Record to")
        self.record_edit = QLineEdit(str(Path.home() / "sdhd-live.mp4"))
        self.record_edit.setToolTip("The x2 result; the source is recorded beside it as "
                                    "NAME-source.mkv, which File › New opens as a project")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        self.source_view = _Picture("Source")
        self.result_view = _Picture("Realtime ×2")
        self.stats_label = QLabel("Stopped")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        controls = QGridLayout()
        controls.addWidget(QLabel("Source"), 0, 0)
        controls.addWidget(self.source_edit, 0, 1)
        controls.addWidget(browse, 0, 2)
        controls.addWidget(self.record_box, 1, 0)
        controls.addWidget(self.record_edit, 1, 1)
        controls.addWidget(self.start_button, 1, 2)
        views = QGridLayout()
        for column, view in enumerate((self.source_view, self.result_view)):
            views.addWidget(view.caption_label, 0, column)
            views.addWidget(view, 1, column)
        views.setRowStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(views, 1)
        layout.addWidget(self.stats_label)
        self.resize(980, 480)

    @property
    def running(self) -> bool:
        return self._session is not None

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        """Start a session over the source named; a bad source is said in the status line."""
        if self.running:
            return
        record = self.record_edit.text().strip() if self.record_box.isChecked() else None
        try:
            if record == "":
                raise SdhdError("name the file to record to")
            # Opening the source and loading the net happen on the worker: neither blocks here.
            session = LiveSession(self.source_edit.text().strip(), _Deferred(self.runtime),
                                  record=record, on_frame=self._offer)
        except SdhdError as exc:
            self.stats_label.setText(f"Cannot start: {exc}")
            return
        self._session = session
        self.last_stats = None
        self._set_running(True)
        self.stats_label.setText("Starting…")
        self._pool.run(lambda: self._work(session))

    def stop(self) -> None:
        """Ask the session to end; the recordings are finished and kept."""
        if self._session is not None:
            self._session.stop()

    def shutdown(self) -> None:
        """Stop the session and wait for its thread (the window is closing)."""
        self.stop()
        self._pool.waitForDone()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- worker side --

    def _work(self, session: LiveSession) -> None:
        try:
            stats = session.run()
        except SdhdError as exc:
            self._relay.ended.emit(None, str(exc))
        except Exception as exc:  # noqa: BLE001 - nothing may reach Qt's thread
            log.exception("live session failed")
            self._relay.ended.emit(None, f"failed: {exc}")
        else:
            self._relay.ended.emit(stats, "")

    def _offer(self, frame: LiveFrame) -> None:
        with self._latest_lock:
            waiting = self._latest is not None
            self._latest = frame
        if not waiting:
            self._relay.frame.emit()

    # -- UI side --

    def _show_latest(self) -> None:
        with self._latest_lock:
            frame, self._latest = self._latest, None
        if frame is None:
            return
        self.source_view.show_image(frame.source)
        self.result_view.show_image(frame.result)
        self.stats_label.setText(_stats_text(frame.stats))

    def _ended(self, stats: LiveStats | None, error: str) -> None:
        self._show_latest()
        session, self._session = self._session, None
        self._set_running(False)
        if error:
            self.stats_label.setText(f"Stopped: {error}")
            return
        self.last_stats = stats
        text = f"Stopped. {_stats_text(stats)}"
        if session is not None and session.record is not None:
            source, result = session.record
            text += f" Recorded {result.name} and {source.name}."
        self.stats_label.setText(text)

    def _set_running(self, running: bool) -> None:
        self.start_button.setText("Stop" if running else "Start")
        for widget in (self.source_edit, self.record_box, self.record_edit):
            widget.setEnabled(not running)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Play a video as a live source", "",
                                              _VIDEO_FILES)
        if path:
            self.source_edit.setText(path)


class _Deferred:
    """The realtime net, loaded on the session's thread at its first frame."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._upscale = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self._upscale is None:
            self._upscale = realtime_upscale(self.runtime)
        return self._upscale(image)


class _Picture(QLabel):
    """An RGB frame scaled to fit, aspect kept; its caption (with the frame's size) is a label
    of its own for the window to place above it."""

    def __init__(self, caption: str) -> None:
        super().__init__()
        self.caption = caption
        self.caption_label = QLabel(caption)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("background: black; color: grey")
        self._pixmap: QPixmap | None = None

    def show_image(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        data = np.ascontiguousarray(image)
        picture = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self._pixmap = QPixmap.fromImage(picture)  # copies: `data` may go
        self.caption_label.setText(f"{self.caption} · {width}×{height}")
        self._fit()

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))


def _stats_text(stats: LiveStats) -> str:
    return (f"{stats.fps:.1f} fps upscaled · {stats.dropped} dropped of {stats.offered} "
            f"frames · {stats.seconds:.1f} s")
