"""The editor as a user drives it: open, render, keyframes, masks, undo, autosave, closing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace

import clips
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QMessageBox,
    QSpinBox,
    QToolButton,
)
from render_lock import hold_render_lock

from sdhd_studio.core import edits
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.gui.main_window import MainWindow
from sdhd_studio.gui.preferences import Preferences
from sdhd_studio.gui.timeline import STATE_COLOURS
from sdhd_studio.gui.workers import busy_pools
from sdhd_studio.media.images import read_mask
from sdhd_studio.ml import models
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.session import Session
from sdhd_studio.render.status import FrameState

Button = QMessageBox.StandardButton


@pytest.fixture
def project_path(tiny_clip, tmp_path):
    path = tmp_path / "tiny.sdhd"
    Session.create(tiny_clip, path, output=OutputSettings(height=180))
    return path


@pytest.fixture
def make_window(qtbot, tmp_path):
    windows = []

    def make() -> MainWindow:
        settings = QSettings(str(tmp_path / f"settings{len(windows)}.ini"),
                             QSettings.Format.IniFormat)
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()


@pytest.fixture
def window(make_window, project_path, qtbot):
    window = make_window()
    with qtbot.waitSignal(window.frameShown, timeout=20000):
        assert window.open_path(str(project_path))
    return window


@pytest.fixture(autouse=True)
def answers(monkeypatch):
    """Scripted answers to the editor's questions (a real box would wait for a click forever
    offscreen); records what was asked. Unsaved changes are discarded unless a test says."""
    asked = []
    replies = {"question": Button.Discard}

    def reply(kind):
        def ask(parent, title, text, *args, **kwargs):
            asked.append((kind, title))
            return replies.get(kind, Button.Cancel)
        return ask

    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(reply(kind)))
    return replies, asked


def render_all(window, qtbot):
    with qtbot.waitSignal(window.render_pool.finished, timeout=60000):
        window.act_render.trigger()


def colour_count(widget, colour) -> int:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(
        image.height(), image.bytesPerLine()
    )[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    return int(np.all(pixels == (colour.red(), colour.green(), colour.blue()), axis=2).sum())


def test_opening_a_project_shows_its_frames(window, project_path):
    assert window.document.path == str(project_path)
    assert window.timeline.current_frame() == 0
    assert window.windowTitle().startswith("tiny.sdhd")
    counts = window.document.status.counts()
    assert counts["empty"] == clips.TINY_FRAMES


def test_the_timeline_turns_green_after_a_render(window, qtbot):
    done, empty = STATE_COLOURS[FrameState.DONE], STATE_COLOURS[FrameState.EMPTY]
    assert colour_count(window.timeline, done) == 0 < colour_count(window.timeline, empty)
    render_all(window, qtbot)
    assert window.document.status.counts()["done"] == clips.TINY_FRAMES
    assert colour_count(window.timeline, done) > 0 == colour_count(window.timeline, empty)


def test_k_adds_a_keyframe_that_the_inspector_shows(window, qtbot):
    render_all(window, qtbot)
    window.set_current_frame(5)
    qtbot.keyClick(window.timeline, Qt.Key.Key_K)
    assert window.document.project.keyframe_at(5) is not None
    assert window.inspector._status_label.text() == "Keyframe"
    # A keyframe with no settings of its own changes no recipe: nothing is dirty yet.
    assert window.document.status.counts()["done"] == clips.TINY_FRAMES
    spin = window.inspector._rows["sharpen"].field.spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "1.5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    states = window.document.status.states
    assert (states[:5] == FrameState.DONE).all()
    assert (states[5:] == FrameState.DIRTY).all()
    assert window.windowTitle().startswith("tiny.sdhd*")


def test_undo_and_redo_bring_back_cached_frames(window, qtbot):
    render_all(window, qtbot)
    window.document.edit("Sharpen", edits.set_defaults, {"sharpen": 1.0})
    assert window.document.status.counts()["dirty"] == clips.TINY_FRAMES
    assert window.act_undo.text() == "&Undo Sharpen"
    window.act_undo.trigger()
    assert window.document.status.counts()["done"] == clips.TINY_FRAMES
    assert not window.document.modified
    window.act_redo.trigger()
    assert window.document.status.counts()["dirty"] == clips.TINY_FRAMES


def test_a_brush_stroke_writes_a_mask_and_dirties_the_frames_it_holds_for(window, qtbot):
    render_all(window, qtbot)
    window.set_current_frame(4)
    panel = window.mask_panel
    panel.findChild(QComboBox, "maskSpan").setCurrentIndex(1)  # hold for N frames
    panel.findChild(QSpinBox, "maskHoldFrames").setValue(5)
    panel.findChild(QToolButton, "maskBrush").click()
    preview = window.preview
    start = QPoint(preview.width() // 4, preview.height() // 2)  # the source side of the split
    qtbot.mousePress(preview, Qt.MouseButton.LeftButton, pos=start)
    for dx in range(0, 40, 4):
        qtbot.mouseMove(preview, start + QPoint(dx, 0))
    qtbot.mouseRelease(preview, Qt.MouseButton.LeftButton, pos=start + QPoint(40, 0))
    project = window.document.project
    (mask,) = project.masks
    assert (mask.frame, mask.end) == (4, 8)
    png = window.document.session.folder.mask_path(mask.digest)
    info = project.source.info
    painted = read_mask(str(png), (info.width, info.height))
    assert painted.any()
    states = window.document.status.states
    assert [int(i) for i in np.flatnonzero(states == FrameState.DIRTY)] == [4, 5, 6, 7, 8]
    window.act_undo.trigger()  # one stroke, one undo step
    assert window.document.project.masks == ()


def test_cancel_stops_a_render_and_keeps_what_was_done(window, qtbot):
    window.document.edit("Slow", edits.set_defaults, {"sharpen": 2.0})
    window.act_render.trigger()
    assert window.act_cancel.isEnabled()
    with qtbot.waitSignal(window.render_pool.finished, timeout=30000) as finished:
        window.act_cancel.trigger()
    summary = finished.args[0]
    counts = window.document.status.counts()
    assert counts["queued"] == counts["rendering"] == 0
    assert counts["done"] == summary.rendered
    assert not window.act_cancel.isEnabled()


def test_unsaved_changes_survive_a_crash_through_autosave(
    make_window, project_path, qtbot, answers
):
    replies, asked = answers
    first = make_window()
    assert first.open_path(str(project_path))
    first.document.set_autosave_seconds(0.05)
    first.document.edit("Keyframe", edits.set_keyframe, 3, {"sharpen": 0.7})
    qtbot.waitUntil(lambda: first.document.session.folder.autosave_file.exists(), timeout=5000)
    first.shutdown()  # the editor dies without saving or asking
    assert Session.open(project_path).project.keyframes == ()
    replies["question"] = Button.Yes
    second = make_window()
    assert second.open_path(str(project_path))
    assert ("question", "Recover unsaved changes?") in asked
    assert second.document.project.keyframe_at(3).settings == {"sharpen": 0.7}
    assert second.document.modified


def test_closing_with_unsaved_changes_asks_first(window, answers):
    replies, asked = answers
    window.document.edit("Keyframe", edits.set_keyframe, 3, {"sharpen": 0.7})
    replies["question"] = Button.Cancel
    assert not window.close()
    assert window.document is not None and asked[-1] == ("question", "Unsaved changes")
    replies["question"] = Button.Save
    assert window.close()
    assert Session.open(window.settings.value("recent")[0]).project.keyframe_at(3) is not None


def test_closing_during_a_render_cancels_it_cleanly(window, answers):
    window.act_render.trigger()
    assert window.render_pool.is_running()
    assert window.close()
    assert not busy_pools()


def test_dropping_a_video_starts_a_project_next_to_it(make_window, tiny_clip, tmp_path, qtbot):
    video = tmp_path / "holiday.mp4"
    shutil.copy(tiny_clip, video)
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video))])
    # Qt delivers drop events only during a real drag, so the handlers are called directly.
    enter = QDragEnterEvent(QPoint(100, 100), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: window.document is not None, timeout=20000)
    assert window.document.path == str(tmp_path / "holiday.sdhd")
    assert (tmp_path / "holiday.sdhd" / "project.json").exists()


def test_a_moved_source_is_located_by_the_user(
    make_window, project_path, tiny_clip, tmp_path, monkeypatch, answers
):
    replies, asked = answers
    moved = tmp_path / "elsewhere.mp4"
    source = Session.open(project_path).project.source.path
    shutil.copy(source, moved)
    hidden = tmp_path / "hidden.mp4"
    shutil.move(source, hidden)
    try:
        replies["warning"] = Button.Open
        monkeypatch.setattr(
            QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(moved), ""))
        )
        window = make_window()
        assert window.open_path(str(project_path))
        assert asked[0] == ("warning", "Source video not found")
        assert window.document.project.source.path == str(moved)
    finally:
        shutil.move(hidden, source)


def test_screenshot_mode_saves_the_window_and_exits(project_path, tmp_path):
    result, out = screenshot_of(project_path, tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1400, 900)


def screenshot_of(path, tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "sdhd_studio.gui.app", "--screenshot", str(out), str(path)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    return result, out


def test_headless_a_question_gets_its_default_answer_and_is_logged(project_path, tiny_clip,
                                                                    tmp_path):
    video = tmp_path / "tape.mp4"
    shutil.copy(tiny_clip, video)
    Session.create(video, tmp_path / "tape.sdhd")  # "Project exists... Open it?"
    result, out = screenshot_of(video, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'Project exists'" in result.stderr and "answered 'Open'" in result.stderr
    assert QImage(str(out)).width() == 1400


def test_headless_a_file_that_is_not_a_video_ends_with_an_error(not_a_video, tmp_path):
    result, out = screenshot_of(not_a_video, tmp_path)
    assert result.returncode == 1
    assert "'New project failed'" in result.stderr and not out.exists()


def test_headless_a_video_without_a_project_is_made_into_one_first(tiny_clip, tmp_path):
    video = tmp_path / "tape.mp4"
    shutil.copy(tiny_clip, video)
    result, out = screenshot_of(video, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tape.sdhd" / "project.json").exists()
    assert QImage(str(out)).width() == 1400


def run_cli(*argv):
    from sdhd_studio.cli.main import main

    assert main([str(a) for a in argv]) == 0


def test_a_project_saved_by_another_program_is_offered_for_reload(window, qtbot, answers):
    replies, asked = answers
    replies["question"] = Button.Yes
    with qtbot.waitSignal(window.document.changedOnDisk, timeout=20000):
        run_cli("keyframe", "set", window.document.path, 7, "--set", "seed=3")
    assert ("question", "Project changed on disk") in asked
    assert window.document.project.keyframe_at(7).settings == {"seed": 3}
    assert not window.document.modified


def test_save_does_not_overwrite_changes_saved_elsewhere_unless_told(window, qtbot, answers):
    replies, asked = answers
    replies["question"] = Button.No  # keep my version when told about theirs
    window.add_keyframe(3)
    with qtbot.waitSignal(window.document.changedOnDisk, timeout=20000):
        run_cli("keyframe", "set", window.document.path, 7, "--set", "seed=3")
    assert not window.save()  # the warning's scripted answer is Cancel
    assert asked[-1] == ("warning", "Project changed on disk")
    theirs = Session.open(window.document.path).project
    assert theirs.keyframe_at(7) is not None and theirs.keyframe_at(3) is None
    replies["warning"] = Button.Save
    assert window.save()
    mine = Session.open(window.document.path).project
    assert mine.keyframe_at(3) is not None and mine.keyframe_at(7) is None


def test_the_editor_does_not_render_while_another_process_does(window, qtbot):
    holder = hold_render_lock(window.document.path, 60)
    try:
        with qtbot.waitSignal(window.render_pool.crashed, timeout=20000) as crashed:
            window.act_render.trigger()
        assert "busy in another process" in crashed.args[0]
    finally:
        holder.kill()
        holder.wait()


def test_the_status_bar_and_about_box_name_the_compute_device(window, qtbot):
    qtbot.waitUntil(lambda: window.system_info is not None, timeout=60000)
    info = window.system_info
    assert info.device is not None and info.device.label in window._device_label.text()
    assert dict(info.versions)["PyTorch"] != "not installed"
    assert info.ffmpeg.split()[0] not in ("unknown", "unavailable")


def test_a_path_that_does_not_exist_is_a_clear_error(tmp_path):
    from sdhd_studio.gui.app import main

    assert main([str(tmp_path / "nope.sdhd")]) == 2


def test_render_selection_renders_exactly_the_shift_dragged_frames(window, qtbot):
    assert not window.act_render_sel.isEnabled()
    timeline = window.timeline
    y = timeline.height() - 10
    x3, x6 = (round((i + 0.5) * timeline.pixels_per_frame()) for i in (3, 6))
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(timeline, Qt.MouseButton.LeftButton, shift, QPoint(x3, y))
    qtbot.mouseMove(timeline, QPoint(x6, y))
    qtbot.mouseRelease(timeline, Qt.MouseButton.LeftButton, shift, QPoint(x6, y))
    assert timeline.selection() == (3, 6) and window.act_render_sel.isEnabled()
    with qtbot.waitSignal(window.render_pool.finished, timeout=30000):
        window.act_render_sel.trigger()
    states = window.document.status.states
    assert [int(i) for i in np.flatnonzero(states == FrameState.DONE)] == [3, 4, 5, 6]


def test_the_compute_label_follows_the_device_preference(window, qtbot):
    qtbot.waitUntil(lambda: window.system_info is not None, timeout=60000)
    window.apply_preferences(replace(window.prefs, device="cpu", tile=128))
    assert window._device_label.text() == "Compute: checking…"
    qtbot.waitUntil(lambda: window.system_info.preference == "cpu", timeout=60000)
    assert window._device_label.text() == f"Compute: CPU ({os.cpu_count()} cores) — asked for"
    assert window.render_pool.runtime == Runtime("cpu", 128)
    assert Preferences.load(window.settings).runtime == Runtime("cpu", 128)


@pytest.mark.skipif(sys.platform == "darwin", reason="Macs may have the Apple GPU")
def test_a_device_this_machine_lacks_is_named_with_the_reason(make_window, qtbot):
    window = make_window()
    window.apply_preferences(replace(window.prefs, device="mps"))  # no Apple GPU on Linux
    qtbot.waitUntil(lambda: window.system_info is not None, timeout=60000)
    assert window.system_info.preference == "mps"
    assert window._device_label.text() == (
        "Compute: unavailable (mps was asked for but this machine's torch cannot use it)"
    )


def test_the_status_bar_shows_the_steps_of_the_frame_rendering(window, qtbot, stepping_upscaler):
    stepping, gate = stepping_upscaler
    window.document.edit("Stepping", edits.set_defaults, {"upscaler": stepping})
    window.render_frames(range(6, 7))
    qtbot.waitUntil(lambda: window._step_label.text() == "frame 6: step 3/5", timeout=10000)
    assert window._render_label.text().startswith("Rendering")
    gate.set()
    with qtbot.waitSignal(window.render_pool.finished, timeout=30000):
        pass
    assert window._step_label.text() == ""


def test_the_models_window_opens_from_the_edit_menu(window, qtbot):
    window.act_models.trigger()
    shown = window.models_window
    assert shown is not None and shown.isVisible()
    assert shown.table.rowCount() == len(models.catalogue())
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    shown.close()
    window.act_models.trigger()
    assert window.models_window is shown and shown.isVisible()
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)


def test_an_unusable_backends_warning_opens_the_models_window(
    make_window, project_path, qtbot, add_backend, add_model
):
    add_backend("test-learned", check=lambda settings: "its model is not downloaded")
    add_model(models.ModelInfo("test/weights", ("test-learned",), "file", "test weights",
                               lambda: models.Location(False, "nowhere")))
    window = make_window()
    assert window.open_path(str(project_path))
    window.document.edit("Learned", edits.set_defaults, {"upscaler": "test-learned"})
    warning = window.inspector._rows["upscaler"].field.warning
    assert warning.isVisible()
    assert warning.text().startswith("⚠ test-learned cannot run here: its model is not downloaded")
    warning.linkActivated.emit("models")
    shown = window.models_window
    assert shown is not None and shown.isVisible()
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    assert "test/weights" in [shown.table.item(r, 0).text() for r in range(shown.table.rowCount())]


def test_the_quick_preview_can_be_the_realtime_net(window, qtbot):
    with qtbot.waitSignal(window.loader.loaded, timeout=30000) as lanczos:
        window.set_current_frame(3)
    with qtbot.waitSignal(window.loader.loaded, timeout=60000) as net:
        window.apply_preferences(replace(window.prefs, quick_preview="realtime"))
    a, b = lanczos.args[0], net.args[0]
    assert a.result_is_preview and b.result_is_preview and b.request.index == 3
    assert b.result.shape == a.result.shape == (180, 320, 3)
    # The net's own pixels, not Lanczos' again (the net is a Lanczos-plus-residual x2).
    assert np.abs(b.result.astype(int) - a.result).mean() > 0.5
    assert window.settings.value("preview/upscaler") == "realtime"
