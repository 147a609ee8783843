"""Long engine work started from the editor (finding cuts, tracking a mask, exporting): run on a
worker thread with a cancel button and progress, the outcome delivered back on the UI thread.

Finding cuts and tracking read the source one frame at a time and check their cancel token once
per frame, so counting those checks gives the progress without the engine reporting it; an
export reports its own, and making a project counts its steps on a token (`stepping`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, SdhdError
from sdhd_studio.gui.workers import WorkerPool

log = logging.getLogger(__name__)

_STEPS = 200  # progress reports per task at most: a long video does not flood the UI thread
_SHOW_AFTER_MS = 300  # a task done sooner never flashes a dialog


class FrameCountingToken(CancelToken):
    """A cancel token that reports each `check` as one more frame of `total` read."""

    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        super().__init__()
        self.total = max(1, total)
        self.done = 0
        self._report = report
        self._reported = -1

    def check(self) -> None:
        super().check()
        self.done = min(self.done + 1, self.total)
        step = self.done * _STEPS // self.total
        if step != self._reported:
            self._reported = step
            self._report(self.done, self.total)


class _Relay(QObject):
    """What the worker thread emits; delivered to the task on the UI thread (queued)."""

    progress = Signal(int, int)
    ended = Signal(str, object)  # "finished" | "failed" | "cancelled", result or message


class BackgroundTask(QObject):
    """Runs `work(token)` once on a worker thread. Given `total`, `token` counts that many
    frames as progress (see module docstring); without it, the work reports through `report`.
    Exactly one of finished, failed and cancelled is emitted at the end."""

    progress = Signal(int, int)  # frames done, frames in all
    finished = Signal(object)  # what `work` returned
    failed = Signal(str)  # one-line message
    cancelled = Signal()

    def __init__(
        self,
        work: Callable[[CancelToken], Any],
        total: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._work = work
        # The pool before the relay: if the parent goes mid-task, the pool (deleted first)
        # waits for the work, which the destroyed signal has cancelled, before the relay goes.
        self._pool = WorkerPool(1, self)
        self._relay = _Relay(self)
        self._relay.progress.connect(self.progress)
        self._relay.ended.connect(self._ended)
        self._token = (
            CancelToken() if total is None else FrameCountingToken(total, self._relay.progress.emit)
        )
        # Work may cancel its token itself when it fails (export_video does); this says the
        # user asked, so an error the stop caused (a killed encoder) is still just a cancel.
        self._cancel_asked = threading.Event()
        self.destroyed.connect(self._cancel_asked.set)
        self.destroyed.connect(self._token.cancel)
        self._running = self._started = False

    def start(self) -> None:
        if self._started:
            raise RuntimeError("a task runs once")
        self._started = self._running = True
        self._pool.run(self._run)

    def cancel(self) -> None:
        """Stop the work at its next token check."""
        self._cancel_asked.set()
        self._token.cancel()

    def report(self, done: int, total: int) -> None:
        """Progress from work that counts its own frames; any thread may call it."""
        self._relay.progress.emit(done, total)

    def stepping(self, token: CancelToken) -> CancelToken:
        """A child of `token` for engine work that counts its own steps (`token.step`): they
        become this task's progress, at most _STEPS reports however many steps there are."""
        reported = -1

        def step(done: int, total: int) -> None:
            nonlocal reported
            if done * _STEPS // max(1, total) != reported:
                reported = done * _STEPS // max(1, total)
                self.report(done, total)

        return token.child(step)

    def is_running(self) -> bool:
        """True from start() until one of finished, failed or cancelled was emitted."""
        return self._running

    def wait(self, ms: int = -1) -> bool:
        """Wait up to `ms` (-1: as long as it takes) for the worker thread; True once done."""
        return self._pool.waitForDone(ms)

    def _run(self) -> None:
        try:
            result = self._work(self._token)
        except Cancelled:
            self._relay.ended.emit("cancelled", None)
        except SdhdError as exc:
            if self._cancel_asked.is_set():
                self._relay.ended.emit("cancelled", None)
            else:
                self._relay.ended.emit("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker thread must not raise into Qt
            log.exception("background task failed")
            self._relay.ended.emit("failed", f"unexpected error: {exc}")
        else:
            self._relay.ended.emit("finished", result)

    def _ended(self, outcome: str, value: object) -> None:
        self._pool.waitForDone()  # the work emits this as its last act: an instant join
        self._running = False
        if outcome == "finished":
            self.finished.emit(value)
        elif outcome == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(str(value))


def progress_dialog(
    parent: QWidget, task: BackgroundTask, title: str, label: str, steps: str = ""
) -> QProgressDialog:
    """A window-modal progress dialog that follows `task`, cancels it from its button and
    closes itself when the task ends, however it ends. With `steps` (a format of `done` and
    `total`), the bar moves to and fro until the first report, which `steps` then words."""
    dialog = QProgressDialog(label, "Cancel", 0, 0 if steps else 100, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(_SHOW_AFTER_MS)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumWidth(380)
    dialog.setValue(0)

    def advanced(done: int, total: int) -> None:
        # The words first: a modal dialog's setValue processes events, later reports included.
        if steps and not dialog.wasCanceled():
            dialog.setLabelText(steps.format(done=done, total=total))
        dialog.setMaximum(total)
        dialog.setValue(done)

    def cancel_asked() -> None:
        task.cancel()
        dialog.setLabelText("Cancelling…")

    def ended(*_: object) -> None:
        dialog.canceled.disconnect(cancel_asked)  # closing it emits canceled too
        dialog.close()
        dialog.deleteLater()

    task.progress.connect(advanced)
    dialog.canceled.connect(cancel_asked)
    for signal in (task.finished, task.failed, task.cancelled):
        signal.connect(ended)
    return dialog
