"""Motion in the editor as a user drives it: cuts, keyframes placed automatically (cuts found off
the UI thread), masks tracked by optical flow and the carried mask in the preview."""

from __future__ import annotations

import clips
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QLabel,
    QSpinBox,
    QTabWidget,
)

from sdhd_studio.core import edits
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.gui import main_window
from sdhd_studio.gui.about import SystemInfo
from sdhd_studio.gui.keyframe_dialog import AutoKeyframesDialog
from sdhd_studio.gui.main_window import MainWindow
from sdhd_studio.media.images import encode_png
from sdhd_studio.render.plan import mask_source
from sdhd_studio.render.session import Session

SHOT = 25  # frames per shot of the two-shot clip; the second starts at frame 25

pytestmark = pytest.mark.usefixtures("no_message_boxes")


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """160x90 at 25 fps: a second of testsrc2, then a second of colour bars."""
    path = tmp_path_factory.mktemp("motion") / "two_shots.mp4"
    clips.run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=25:d={SHOT / 25}",
        "-f", "lavfi", "-i", f"smptebars=s=160x90:r=25:d={SHOT / 25}",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264",
        "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return str(path)


@pytest.fixture
def open_window(qtbot, tmp_path, monkeypatch):
    # Finding the compute device imports torch in a child process for seconds, and closing a
    # window waits for it; it has tests of its own (test_main_window).
    monkeypatch.setattr(
        main_window, "collect_system_info",
        lambda preference: SystemInfo((), "not asked here", None, "not asked here", preference),
    )
    windows = []

    def open_(video: str) -> MainWindow:
        project = tmp_path / f"p{len(windows)}.sdhd"
        Session.create(video, project, output=OutputSettings(height=180))
        settings = QSettings(str(tmp_path / f"s{len(windows)}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        windows.append(window)
        with qtbot.waitSignal(window.frameShown, timeout=20000):
            assert window.open_path(str(project))
        return window

    yield open_
    for window in windows:
        window.shutdown()


def menu_action(window, x, text):
    menu = window.timeline.context_menu(x)
    return next(a for a in menu.actions() if a.text().startswith(text))


def test_a_cut_from_the_timeline_menu_is_drawn_and_undone(open_window, tiny_clip):
    window = open_window(tiny_clip)
    timeline = window.timeline
    x = (10 + 0.5) * timeline.pixels_per_frame()
    menu_action(window, x, "Cut here").trigger()
    assert window.document.project.cuts == {10}
    line_x = round(10 * timeline.pixels_per_frame())
    image = timeline.grab().toImage()
    assert image.pixelColor(line_x, timeline.height() - 12) == QColor("#f0e442")
    assert window.act_undo.text() == "&Undo Cut at 10"
    window.act_undo.trigger()
    assert window.document.project.cuts == frozenset()
    assert timeline.grab().toImage().pixelColor(line_x, timeline.height() - 12) != QColor(
        "#f0e442"
    )
    window.set_current_frame(12)
    window.act_cut.trigger()  # C: at the playhead
    assert window.document.project.cuts == {12}
    menu_action(window, (12 + 0.5) * timeline.pixels_per_frame(), "Remove cut").trigger()
    assert window.document.project.cuts == frozenset()


def test_keyframes_are_placed_every_n_and_at_the_cuts_found(open_window, two_shots, qtbot):
    window = open_window(two_shots)
    window.act_auto_keys.trigger()
    dialog = window.findChild(AutoKeyframesDialog)
    assert dialog.isVisible() and dialog.every() == 8 and dialog.find_cuts()
    assert "reads all 50 frames" in dialog.note.text()
    dialog.every_spin.setValue(10)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert window.task is not None and not window.act_auto_keys.isEnabled()
    qtbot.waitUntil(lambda: window.task is None, timeout=20000)
    project = window.document.project
    assert project.cuts == {SHOT}
    assert [kf.frame for kf in project.keyframes] == [0, 10, 20, SHOT, 30, 40]
    assert window.act_auto_keys.isEnabled()
    assert window.statusBar().currentMessage() == "6 keyframes; found 1 cut"
    window.act_undo.trigger()  # one step
    assert window.document.project.keyframes == () and window.document.project.cuts == set()


def test_keyframes_without_looking_for_cuts_still_go_on_marked_cuts(open_window, tiny_clip):
    window = open_window(tiny_clip)
    window.set_cut(15, True)
    window.place_keyframes(8, find_cuts=False)
    assert window.task is None  # nothing to read: applied at once
    assert [kf.frame for kf in window.document.project.keyframes] == [0, 8, 15, 16]


@pytest.fixture
def flash_window(open_window, flash_beep_clip):
    """A window on the flash clip with a square mask painted on frame 35, held to 45: black
    frames, then the white one at 40 where tracking must stop."""
    window = open_window(flash_beep_clip)
    mask = np.zeros((120, 160), np.uint8)
    mask[40:80, 60:100] = 255
    digest = window.document.store_mask(encode_png(mask))
    window.document.edit("Paint", edits.set_mask, 35, digest, 45)
    window.set_current_frame(35)
    window.findChild(QTabWidget).setCurrentWidget(window.mask_panel)
    return window


def test_tracking_a_mask_carries_it_until_it_loses_track_and_says_where(flash_window, qtbot):
    window = flash_window
    panel = window.mask_panel
    assert panel.findChild(QComboBox, "maskSpan").currentData() == "hold"
    assert panel.findChild(QSpinBox, "maskHoldFrames").value() == 11
    track = panel.findChild(QCheckBox, "maskTrack")
    qtbot.mouseClick(track, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.task is None, timeout=20000)
    (mask,) = window.document.project.masks
    assert (mask.frame, mask.track, mask.first, mask.end) == (35, True, 35, 39)
    expected = "tracking stopped at frame 39: confidence 0.00 at frame 40 is below 0.50"
    warning = panel.findChild(QLabel, "maskTrackWarning")
    assert warning.isVisible() and warning.text() == "⚠ T" + expected[1:] + "."
    assert expected in window.log_panel.toPlainText()
    assert expected in window.statusBar().currentMessage()
    # The timeline's tracked bracket covers 35..39 and the span shows what was reached.
    assert panel.findChild(QSpinBox, "maskHoldFrames").value() == 5

    start = panel.findChild(QSpinBox, "maskTrackFrom")
    assert start.isVisible() and start.value() == 35 and start.maximum() == 35
    start.setValue(30)
    start.editingFinished.emit()
    qtbot.waitUntil(lambda: window.task is None, timeout=20000)
    (mask,) = window.document.project.masks
    assert (mask.first, mask.end) == (30, 39)
    assert "tracked over frames 30–39" in panel.findChild(QLabel, "maskInfo").text()
    window.act_undo.trigger()
    assert window.document.project.masks[0].first == 35
    window.act_undo.trigger()
    (held,) = window.document.project.masks
    assert (held.track, held.end) == (False, 45)
    assert not track.isChecked()


def test_the_preview_shows_the_mask_carried_to_a_tracked_frame(flash_window, qtbot):
    window = flash_window
    document = window.document
    mask = document.project.masks[0]
    document.edit("Track", edits.set_mask, 35, mask.digest, 39, track=True, start=30)
    key = mask_source(document.project, document.session.folder, document.project.masks[0],
                      32).key
    def shows(index, carried):
        return lambda frame: (frame.request.index, frame.mask_carried) == (index, carried)

    with qtbot.waitSignal(window.loader.loaded, timeout=20000,
                          check_params_cb=shows(32, False)) as loaded:
        window.set_current_frame(32)
    frame = loaded.args[0]
    assert frame.request.mask_key == key and not frame.mask_carried  # not carried yet
    assert window.preview.mask().any()  # the painted one stands in

    carried = np.zeros((120, 160), np.uint8)
    carried[10:30, 10:30] = 255  # not what was painted: it must come from the cache
    document.session.cache.put(key, carried)
    with qtbot.waitSignal(window.loader.loaded, timeout=20000, check_params_cb=shows(32, True)):
        window.set_current_frame(33)
        window.set_current_frame(32)
    assert np.array_equal(window.preview.mask() > 0, carried > 0)


def test_a_track_that_fails_is_reported_and_changes_nothing(
    flash_window, qtbot, no_message_boxes
):
    window = flash_window
    window.document.session.folder.mask_path(window.document.project.masks[0].digest).unlink()
    before = window.document.project
    window.mask_panel.findChild(QCheckBox, "maskTrack").click()
    qtbot.waitUntil(lambda: window.task is None, timeout=20000)
    assert window.document.project is before
    assert ("warning", "Tracking the mask failed") in no_message_boxes
    assert "tracking the mask failed" in window.log_panel.toPlainText()


def test_closing_the_window_mid_search_stops_it(open_window, sample_clip):
    window = open_window(sample_clip)
    window.place_keyframes(8, find_cuts=True)
    assert window.task is not None
    window.shutdown()  # the no-threads-left check of conftest does the rest
    assert window.task is None and window.document.project.keyframes == ()
