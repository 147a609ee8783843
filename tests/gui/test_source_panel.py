"""The Source panel: the analysis shown beside the choices; applying one re-makes the frames
on a worker as one undoable edit, and the timeline follows."""

import contextlib

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QProgressDialog, QPushButton

from sdhd_studio.core.project import OutputSettings
from sdhd_studio.core.source import COLOUR_MATRICES, DEINTERLACE_MODES, FIELD_ORDERS, IVTC_MODES
from sdhd_studio.gui import main_window
from sdhd_studio.gui.about import SystemInfo
from sdhd_studio.gui.main_window import MainWindow
from sdhd_studio.gui.source_panel import CHOICES
from sdhd_studio.render.session import Session

pytestmark = pytest.mark.usefixtures("no_message_boxes")


def test_every_choice_is_offered():
    assert [set(options) for _, _, options in CHOICES] == [
        set(FIELD_ORDERS), set(DEINTERLACE_MODES), set(IVTC_MODES), set(COLOUR_MATRICES)
    ]


@contextlib.contextmanager
def _editor_on(qtbot, tmp_path, monkeypatch, source, height, **conditioning):
    """The editor on a new project of `source` (output `height` pixels), its first frame shown;
    shut down afterwards."""
    monkeypatch.setattr(
        main_window, "collect_system_info",
        lambda preference: SystemInfo((), "not asked here", None, "not asked here", preference),
    )
    project = tmp_path / "tape.sdhd"
    Session.create(source, project, output=OutputSettings(height=height),
                   conditioning=conditioning)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    with qtbot.waitSignal(window.frameShown, timeout=20000):
        assert window.open_path(str(project))
    try:
        yield window
    finally:
        window.shutdown()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, tapes):
    with _editor_on(qtbot, tmp_path, monkeypatch, tapes("pal_mpg"), 288) as window:
        yield window


def test_findings_shown_and_a_new_mode_applied_then_undone(window, qtbot, no_message_boxes):
    panel = window.source_panel
    assert panel.findChild(type(panel._found["scan"]), "sourceFound_scan").text() == "interlaced"
    assert "top first" in panel._found["order"].text()
    assert "50 at 50.000 fps" in panel._found["frames"].text()
    assert not panel._apply.isEnabled()
    window.set_current_frame(40)
    assert window._current == 40
    box = panel._boxes["deinterlace"]
    box.setCurrentIndex(box.findData("single"))
    assert panel._apply.isEnabled()
    with qtbot.waitSignal(window.document.projectChanged, timeout=20000):
        panel._apply.click()
    assert not no_message_boxes
    assert window.document.project.frame_count == 25
    assert window._current == 20  # the same time
    assert "25 at 25.000 fps" in panel._found["frames"].text() and not panel._apply.isEnabled()
    window.document.undo()
    assert window.document.project.frame_count == 50 and window._current == 40


@pytest.fixture
def film_window(qtbot, tmp_path, monkeypatch, tapes):
    """The editor on telecined film made with inverse telecine off (60 fields)."""
    with _editor_on(qtbot, tmp_path, monkeypatch, tapes("film_mpg"), 240, ivtc="off") as window:
        assert window.document.project.frame_count == 60
        yield window


def ask_for_ivtc(window):
    box = window.source_panel._boxes["ivtc"]
    box.setCurrentIndex(box.findData("on"))
    window.source_panel._apply.click()
    return window.findChild(QProgressDialog)


def test_inverse_telecine_matches_fields_on_a_worker_with_progress(
    film_window, qtbot, no_message_boxes
):
    dialog = ask_for_ivtc(film_window)
    said = []
    film_window.task.progress.connect(lambda *_: said.append(dialog.labelText()))
    with qtbot.waitSignal(film_window.document.projectChanged, timeout=30000):
        pass
    assert said[-1] == "Matching fields: 30 of 30 pictures"
    assert film_window.document.project.frame_count == 24 and not no_message_boxes


def test_cancelled_inverse_telecine_changes_nothing(film_window, qtbot, no_message_boxes):
    before = film_window.document.project
    ask_for_ivtc(film_window).findChild(QPushButton).click()  # Cancel
    task = film_window.task
    with qtbot.waitSignal(task.cancelled, timeout=30000):
        pass
    assert film_window.document.project is before
    assert film_window.document.session.history.undo_label is None and not no_message_boxes


@pytest.fixture
def two_tracks_window(qtbot, tmp_path, monkeypatch, two_tracks_clip):
    with _editor_on(qtbot, tmp_path, monkeypatch, two_tracks_clip, 192) as window:
        yield window


def test_the_audio_track_is_chosen_from_the_sources_and_undone(two_tracks_window,
                                                               no_message_boxes):
    window = two_tracks_window
    combo = window.source_panel.findChild(QComboBox, "sourceAudioTrack")
    mpeg = window.document.project.source.path.endswith(".mpg")
    codec, language = ("mp2", "") if mpeg else ("aac", ", fra")
    assert [combo.itemText(row) for row in range(combo.count())] == [
        f"audio 1: {codec}, 48000 Hz, 1 ch", f"audio 2: {codec}, 48000 Hz, 1 ch{language}"]
    assert combo.isEnabled() and combo.currentData() == 1
    combo.activated.emit(1)  # what a user picking the second entry sends
    assert window.document.project.output.audio_track == 2 and combo.currentData() == 2
    assert window.document.modified
    window.document.undo()
    assert window.document.project.output.audio_track == 1 and combo.currentData() == 1
    assert not no_message_boxes


def test_the_audio_track_cannot_be_chosen_from_one(window):
    combo = window.source_panel.findChild(QComboBox, "sourceAudioTrack")
    assert combo.count() == 1 and not combo.isEnabled()
