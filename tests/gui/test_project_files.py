"""Making a project from a video in the editor: on a worker with progress and Cancel, the
window going on meanwhile; cancelled, nothing is left behind; failed, one message."""

import os
import shutil
from fractions import Fraction

import pytest
import source_clips
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QProgressDialog, QPushButton

from sdhd_studio.gui import main_window
from sdhd_studio.gui.about import SystemInfo
from sdhd_studio.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(
        main_window, "collect_system_info",
        lambda preference: SystemInfo((), "not asked here", None, "not asked here", preference),
    )
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    yield window
    window.shutdown()


@pytest.fixture
def film(tapes, tmp_path):
    """Telecined film (30 pictures, 24 film frames) in a folder of its own."""
    return shutil.copy(tapes("film_mpg"), tmp_path / "film.mpg")


def progress_dialog(window) -> QProgressDialog:
    return window.findChild(QProgressDialog)


def test_a_project_is_made_on_a_worker_while_the_window_goes_on(
    window, film, tmp_path, qtbot, no_message_boxes
):
    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(0)
    assert window.open_path(film)
    assert window.document is None  # the call came back before the project was made
    dialog = progress_dialog(window)
    assert dialog.labelText() == "Analysing film.mpg…"
    reports = []  # (event loop ticks so far, what the dialog said)
    window.task.progress.connect(lambda *_: reports.append((ticks[0], dialog.labelText())))
    qtbot.waitUntil(lambda: window.document is not None, timeout=30000)
    timer.stop()
    assert reports[0][0] > 0  # the event loop ran while the source was analysed
    assert reports[-1][1] == "Matching fields: 30 of 30 pictures"
    project = window.document.project
    assert (project.frame_count, project.source.info.fps) == (24, Fraction(24000, 1001))
    assert window.document.path == str(tmp_path / "film.sdhd")
    assert not no_message_boxes
    qtbot.waitUntil(lambda: window.task is None)
    assert window.act_auto_keys.isEnabled()


def test_cancel_leaves_no_project_behind(window, film, tmp_path, qtbot, no_message_boxes):
    assert window.open_path(film)
    task = window.task
    progress_dialog(window).findChild(QPushButton).click()  # Cancel
    with qtbot.waitSignal(task.cancelled, timeout=30000):
        pass
    assert window.document is None and window.task is None
    assert not (tmp_path / "film.sdhd").exists()
    assert window.statusBar().currentMessage() == "New project: cancelled"
    # Starting again makes the project: no "Project exists" question about a broken one.
    assert window.open_path(film)
    qtbot.waitUntil(lambda: window.document is not None, timeout=30000)
    assert not no_message_boxes
    assert window.document.project.frame_count == 24


def test_a_dvd_folder_becomes_a_project(window, tapes, tmp_path, qtbot, no_message_boxes):
    source_clips.make_dvd(tapes.truth("pal_mpg"), tmp_path)
    assert window.open_path(str(tmp_path / "DVD"))
    qtbot.waitUntil(lambda: window.document is not None, timeout=30000)
    assert not no_message_boxes
    assert window.document.path == str(tmp_path / "DVD.sdhd")
    assert window.document.project.frame_count == 50  # 25 pictures, one frame per field


def test_a_second_video_waits_for_the_project_being_made(window, film, tiny_clip, qtbot):
    assert window.open_path(film)
    assert not window.open_path(tiny_clip)
    qtbot.waitUntil(lambda: window.document is not None, timeout=30000)
    assert window.document.path.endswith("film.sdhd")


def test_a_video_that_cannot_be_read_is_one_message_and_no_folder(
    window, not_a_video, qtbot, no_message_boxes
):
    assert window.open_path(not_a_video)
    qtbot.waitUntil(lambda: window.task is None, timeout=30000)
    assert no_message_boxes == [("warning", "New project failed")]
    assert window.document is None
    assert not os.path.exists(not_a_video.replace(".mp4", ".sdhd"))


def test_closing_the_window_while_a_project_is_made_stops_it(window, film, tmp_path):
    assert window.open_path(film)
    assert window.close()
    assert window.task is None
    assert not (tmp_path / "film.sdhd").exists()
