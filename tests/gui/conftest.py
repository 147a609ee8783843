"""GUI tests run offscreen, on a QApplication made safe from OpenCV's Qt paths, and must leave
no thread or pool running behind them."""

from __future__ import annotations

import os
import threading

import cv2  # noqa: F401 - imported first on purpose: it sets the Qt paths the app must clear
import pytest

from sdhd_studio.gui.qt_env import clear_opencv_qt_paths

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
clear_opencv_qt_paths()


@pytest.fixture(autouse=True)
def no_threads_left_behind(qapp):
    """Every GUI test ends with only the Python threads it started with, an idle global pool
    and none of the editor's worker pools still running."""
    from PySide6.QtCore import QThreadPool

    from sdhd_studio.gui.workers import busy_pools

    before = {t.ident for t in threading.enumerate()}
    yield
    qapp.processEvents()
    assert QThreadPool.globalInstance().waitForDone(5000), "the global thread pool is still busy"
    assert not busy_pools(), "a worker pool is still running after the test"
    # Qt's own threads show up as dummies once Python code ran on them; they cannot be joined.
    leftover = [
        t for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    for thread in leftover:
        thread.join(timeout=5)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"threads still running after the test: {alive}"
