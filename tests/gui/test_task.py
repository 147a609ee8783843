"""Background tasks: work on a worker thread with progress counted in frames, a Cancel button
that stops it at the next frame, and exactly one outcome back on the UI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog, QPushButton, QWidget

from sdhd_studio.core.errors import MediaError
from sdhd_studio.gui.task import BackgroundTask, progress_dialog


def frames(count, gate=None, at=0):
    """Work that reads `count` frames the way the session does (a token check per frame),
    waiting at frame `at` until `gate` opens."""

    def work(token):
        for index in range(count):
            while gate is not None and index == at and not (gate.wait(0.01) or token.cancelled):
                pass
            token.check()
        return f"read {count}"

    return work


def outcomes(task):
    seen = []
    task.finished.connect(lambda result: seen.append(("finished", result)))
    task.failed.connect(lambda message: seen.append(("failed", message)))
    task.cancelled.connect(lambda: seen.append(("cancelled", None)))
    return seen


def test_a_task_reports_progress_in_frames_and_its_result(qtbot):
    task = BackgroundTask(frames(1000), 1000)
    seen, steps = outcomes(task), []
    task.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(task.finished, timeout=10000):
        task.start()
    assert seen == [("finished", "read 1000")] and not task.is_running()
    assert steps[-1] == (1000, 1000) and len(steps) <= 201  # not one signal per frame
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)


def test_cancel_from_the_progress_dialog_stops_the_work(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    gate = threading.Event()
    task = BackgroundTask(frames(100, gate, at=40), 100, parent)
    seen = outcomes(task)
    dialog = progress_dialog(parent, task, "Finding cuts", "Reading 100 frames…")
    task.start()
    try:
        qtbot.waitUntil(lambda: dialog.value() == 40 and dialog.isVisible(), timeout=10000)
        assert dialog.windowModality() == Qt.WindowModality.WindowModal
        with qtbot.waitSignal(task.cancelled, timeout=10000):
            qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
    finally:
        gate.set()
    assert seen == [("cancelled", None)]
    qtbot.waitUntil(lambda: not any(isinstance(w, QProgressDialog) and w.isVisible()
                                    for w in parent.children()))


@pytest.mark.parametrize(
    ("error", "message"),
    [(MediaError("frame 7 cannot be decoded"), "frame 7 cannot be decoded"),
     (ValueError("bad"), "unexpected error: bad")],
)
def test_a_failure_is_one_message(qtbot, error, message):
    def work(token):
        raise error

    task = BackgroundTask(work, 10)
    seen = outcomes(task)
    with qtbot.waitSignal(task.failed, timeout=10000):
        task.start()
    assert seen == [("failed", message)]
