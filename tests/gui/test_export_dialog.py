"""The export dialog, the background export job and the whole export flow, on real clips."""

import os
import stat
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import clips
import cv2
import pytest
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton, QWidget

from sdhd_studio.core import edits
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.core.timing import output_positions
from sdhd_studio.gui.export_dialog import ExportDialog, ExportJob, ExportOptions, run_export
from sdhd_studio.media.probe import probe
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.session import Session


def make_session(source, tmp_path, **output):
    return Session.create(source, tmp_path / "p.sdhd", output=OutputSettings(**output))


def open_dialog(qtbot, session, default_path=None):
    dialog = ExportDialog(session, default_path=default_path)
    qtbot.addWidget(dialog)
    dialog.show()
    # The encoders and the frame counts arrive from the worker thread.
    qtbot.waitUntil(lambda: dialog.codec_combo.count() >= 2 and dialog.frames is not None)
    return dialog


def choose_rate(qtbot, dialog, data):
    choose(dialog.fps_combo, data)
    qtbot.waitUntil(lambda: dialog.frames is not None)


def type_path(qtbot, dialog, path):
    dialog.path_edit.clear()
    qtbot.keyClicks(dialog.path_edit, str(path))


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, f"{data!r} is not offered"
    combo.setCurrentIndex(index)


def written_files(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".mp4"))


def options_for(path, **changes):
    values = dict(path=str(path), codec="h264", crf=30, preset="ultrafast", fps_multiplier=1,
                  audio=True, allow_preview=False)
    return ExportOptions(**{**values, **changes})


def when_shown(kind, action):
    """Run `action(widget)` once a visible top-level `kind` appears (modal dialogs block)."""
    timer = QTimer()
    deadline = time.monotonic() + 10

    def poll():
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, kind) and widget.isVisible():
                timer.stop()
                action(widget)
                return
        if time.monotonic() > deadline:
            timer.stop()

    timer.timeout.connect(poll)
    timer.start(10)
    return timer


def test_defaults_come_from_the_project(qtbot, tiny_clip, tmp_path):
    session = make_session(
        tiny_clip, tmp_path, height=180, crf=23, preset="slow", fps_multiplier=2, codec="h265"
    )
    session.render(frames=range(10), between=False)
    dialog = open_dialog(qtbot, session)
    assert dialog.path_edit.text() == os.path.join(os.path.dirname(tiny_clip), "tiny_hd.mp4")
    assert dialog.codec_combo.currentText() == "H.265 (x265, software)"
    assert [dialog.codec_combo.itemData(i) for i in range(2)] == ["h264", "h265"]
    assert (dialog.crf_spin.value(), dialog.crf_spin.minimum(), dialog.crf_spin.maximum()) == (
        23, 0, 51,
    )
    assert "18 ≈ visually lossless" in dialog.crf_hint.text()
    assert dialog.preset_combo.currentText() == "slow"
    fps = [dialog.fps_combo.itemText(i) for i in range(dialog.fps_combo.count())]
    assert fps == ["×1 (24 fps)", "×2 (48 fps)", "×3 (72 fps)", "×4 (96 fps)", "",
                   "23.976 fps", "25 fps", "29.97 fps", "30 fps", "50 fps", "59.94 fps",
                   "60 fps", "Other…"]  # 24 fps is ×1
    assert dialog.fps_combo.currentText() == "×2 (48 fps)"
    assert dialog.audio_box.isEnabled() and dialog.audio_box.isChecked()
    # 48 output frames: the 24 source frames and one in-between after each but the last,
    # which is held; frames 0-9 are rendered.
    assert dialog.frames_line.text() == (
        "38 of 48 frames are not rendered yet; Export renders them first."
    )
    assert dialog.fps_hint.text() == "48 frames, 00:01.00; in-between frames made by dis"
    dialog.preview_box.click()
    assert "filled with a quick preview" in dialog.frames_line.text()


def test_fill_accept_and_export_writes_the_video(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    dialog = open_dialog(qtbot, session)
    out = tmp_path / "exports" / "result"  # no extension: .mp4 is added
    out.parent.mkdir()
    type_path(qtbot, dialog, out)
    choose(dialog.codec_combo, "h265")
    dialog.crf_spin.setValue(28)
    dialog.preset_combo.setCurrentText("ultrafast")
    choose(dialog.fps_combo, 2)
    dialog.audio_box.click()
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == ExportDialog.DialogCode.Accepted and not dialog.isVisible()
    options = dialog.options()
    assert options == ExportOptions(
        path=f"{out}.mp4", codec="h265", crf=28, preset="ultrafast", fps_multiplier=2,
        audio=False, allow_preview=False,
    )

    job = ExportJob(session, options)
    steps = []
    job.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(job.finished, timeout=20000) as finished:
        job.start()
        assert job.is_running()
    assert not job.is_running()
    result = finished.args[0]
    info = probe(options.path)
    assert (info.codec, info.width, info.height) == ("hevc", 320, 180)
    assert info.frame_count == result.frames == clips.TINY_FRAMES * 2
    assert info.fps == Fraction(48) and info.audio == ()
    assert steps[-1] == (clips.TINY_FRAMES * 2, clips.TINY_FRAMES * 2)
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert written_files(out.parent) == ["result.mp4"]


def test_a_matroska_name_exports_matroska(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    dialog = open_dialog(qtbot, session)
    type_path(qtbot, dialog, tmp_path / "tape.mkv")
    dialog.preset_combo.setCurrentText("ultrafast")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == ExportDialog.DialogCode.Accepted
    job = ExportJob(session, dialog.options())
    with qtbot.waitSignal(job.finished, timeout=20000):
        job.start()
    with av.open(str(tmp_path / "tape.mkv")) as container:
        assert "matroska" in container.format.name
    assert probe(str(tmp_path / "tape.mkv")).frame_count == clips.TINY_FRAMES


def test_a_relative_name_is_put_next_to_the_source(qtbot, tiny_clip, tmp_path):
    dialog = open_dialog(qtbot, make_session(tiny_clip, tmp_path, height=180))
    type_path(qtbot, dialog, "  sub/../night shot ")
    assert dialog.options().path == os.path.join(os.path.dirname(tiny_clip), "night shot.mp4")


def test_cancel_mid_export_leaves_no_file_and_no_thread(qtbot, sample_clip, tmp_path):
    session = make_session(sample_clip, tmp_path)
    job = ExportJob(session, options_for(tmp_path / "out.mp4"))
    steps = []

    def step(done, total):
        steps.append(done)
        if done == 3:
            job.cancel()

    job.progress.connect(step)
    with qtbot.waitSignal(job.cancelled, timeout=20000):
        job.start()
    assert job.wait(0) and not job.is_running()
    assert 3 <= max(steps) < 132  # stopped within a frame or two of the request
    assert written_files(tmp_path) == [] and not any(".partial" in n for n in os.listdir(tmp_path))


def test_failure_is_one_line_and_writes_nothing(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    job = ExportJob(session, options_for(tmp_path / "gone" / "out.mp4"))
    with qtbot.waitSignal(job.failed, timeout=10000) as failed:
        job.start()
    message = failed.args[0]
    assert "the folder" in message and "does not exist" in message and "\n" not in message
    assert not (tmp_path / "gone").exists() and not job.is_running()


def test_destroying_the_parent_stops_the_export(qtbot, sample_clip, tmp_path):
    session = make_session(sample_clip, tmp_path)
    parent = QWidget()
    job = ExportJob(session, options_for(tmp_path / "out.mp4"), parent)
    with qtbot.waitSignal(job.progress, timeout=20000):
        job.start()
    started = time.monotonic()
    parent.deleteLater()
    qtbot.waitUntil(lambda: not job_alive(job))
    assert time.monotonic() - started < 5
    assert written_files(tmp_path) == []


def job_alive(job):
    try:
        job.objectName()
    except RuntimeError:  # the C++ object is gone
        return False
    return True


def unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    # Root ignores permission bits; sysfs refuses new files to anyone.
    return locked if not os.access(locked, os.W_OK) else Path("/sys")


@pytest.mark.parametrize(
    "case", ["empty", "missing folder", "not a video container", "a container without the codec",
             "a folder", "the source", "unwritable"]
)
def test_an_unusable_path_is_shown_and_the_dialog_stays_open(qtbot, tmp_path, tiny_clip, case):
    session = make_session(tiny_clip, tmp_path, height=180)
    dialog = open_dialog(qtbot, session)
    (tmp_path / "dir.mp4").mkdir()
    if case == "unwritable":
        folder = unwritable_folder(tmp_path)
        typed, expected = f"{folder}/out.mp4", f"The folder {folder} is not writable"
    else:
        typed, expected = {
            "empty": ("", "Choose where to save the video."),
            "missing folder": (
                f"{tmp_path}/missing/out.mp4", f"The folder {tmp_path}/missing does not exist."
            ),
            "not a video container": (
                f"{tmp_path}/out.avi",
                "Cannot write .avi files; name the output .mp4, .mov, .mkv, .webm.",
            ),
            "a container without the codec": (
                f"{tmp_path}/out.webm",
                "WebM cannot carry H.264 video; choose the codec vp9 or av1, or another "
                "container.",
            ),
            "a folder": (
                f"{tmp_path}/dir.mp4", f"{tmp_path}/dir.mp4 is a folder; add a file name."
            ),
            "the source": (tiny_clip, "That is the source video; choose another name."),
        }[case]
    type_path(qtbot, dialog, typed)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.result() != ExportDialog.DialogCode.Accepted
    assert dialog.path_error.isVisible() and dialog.path_error.text().startswith(expected)
    qtbot.keyClicks(dialog.path_edit, "x")  # editing the path clears the complaint
    assert not dialog.path_error.isVisible()


def test_replacing_an_existing_file_is_asked(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    existing = tmp_path / "old.mp4"
    existing.write_bytes(b"an earlier export")
    dialog = open_dialog(qtbot, session, default_path=str(existing))
    questions = []

    def answer(label):
        def click(box):
            questions.append(box.text())
            button = next(b for b in box.buttons() if b.text() == label)
            button.click()
        return click

    timer = when_shown(QMessageBox, answer("Cancel"))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and questions == [f"old.mp4 already exists in {tmp_path}."]
    timer = when_shown(QMessageBox, answer("Replace"))  # noqa: F841 - kept alive while it runs
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and dialog.result() == ExportDialog.DialogCode.Accepted
    assert existing.read_bytes() == b"an earlier export"  # only the export itself replaces it


def test_a_source_without_audio_disables_the_audio_box(qtbot, open_gop_clip, tmp_path):
    session = make_session(open_gop_clip, tmp_path, height=90)
    dialog = open_dialog(qtbot, session)
    assert not dialog.audio_box.isEnabled() and not dialog.audio_box.isChecked()
    assert dialog.audio_reason.isVisible() and dialog.audio_reason.text() == (
        "the source has no audio"
    )
    assert dialog.options().audio is False


def test_a_project_codec_that_cannot_run_here_falls_back_and_says_why(
    qtbot, tiny_clip, tmp_path
):
    from sdhd_studio.media.encoders import ENCODERS, available_encoders

    broken = [e for e in ENCODERS if e not in available_encoders()]
    if not broken:
        pytest.skip("every encoder works on this machine")
    session = make_session(tiny_clip, tmp_path, height=180, codec=broken[0].name)
    dialog = open_dialog(qtbot, session)
    assert dialog.codec_combo.currentData() == "h264"
    assert dialog.codec_hint.isVisible()
    assert f"The project's codec, {broken[0].label}, cannot be used here" in (
        dialog.codec_hint.text()
    )


def test_run_export_from_dialog_to_show_in_folder(qtbot, tiny_clip, tmp_path, monkeypatch):
    session = make_session(tiny_clip, tmp_path, height=180, preset="ultrafast")
    parent = QWidget()
    qtbot.addWidget(parent)
    out = tmp_path / "flow.mp4"
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", opened.append)
    seen = {}

    def on_result(box):
        seen["result"] = box.text()
        next(b for b in box.buttons() if b.text() == "Show in folder").click()

    def on_dialog(dialog):
        seen["timer"] = when_shown(QMessageBox, on_result)
        type_path(qtbot, dialog, out)
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)

    timer = when_shown(ExportDialog, on_dialog)  # noqa: F841 - kept alive while it runs
    result = run_export(session, parent)
    assert result is not None and result.path == out
    assert probe(str(out)).frame_count == clips.TINY_FRAMES
    assert seen["result"] == "Exported flow.mp4"
    assert opened == [QUrl.fromLocalFile(str(tmp_path))]


def test_run_export_cancelled_from_the_progress_dialog(qtbot, sample_clip, tmp_path):
    session = make_session(sample_clip, tmp_path)
    parent = QWidget()
    qtbot.addWidget(parent)
    out = tmp_path / "cancelled.mp4"
    labels = []

    def on_progress(progress):
        def cancel_once_going():
            if progress.value() < 2:
                QTimer.singleShot(10, cancel_once_going)
                return
            labels.append(progress.labelText())
            qtbot.mouseClick(progress.findChild(QPushButton), Qt.MouseButton.LeftButton)
            labels.append(progress.labelText())
        cancel_once_going()

    def on_dialog(dialog):
        dialog.timer = when_shown(QProgressDialog, on_progress)
        type_path(qtbot, dialog, out)
        dialog.preset_combo.setCurrentText("ultrafast")
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)

    timer = when_shown(ExportDialog, on_dialog)  # noqa: F841 - kept alive while it runs
    assert run_export(session, parent) is None
    assert labels[0].startswith("Rendering and encoding frame ") and labels[0].endswith(" of 132")
    assert labels[1] == "Cancelling…"
    assert written_files(tmp_path) == []


def test_closing_the_dialog_returns_nothing(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    parent = QWidget()
    qtbot.addWidget(parent)
    timer = when_shown(ExportDialog, lambda dialog: dialog.reject())  # noqa: F841
    assert run_export(session, parent) is None


def test_an_export_renders_missing_frames_on_the_runtime_it_is_given(
    qtbot, tiny_clip, tmp_path, add_backend
):
    runtimes = []

    class Probe:
        def __init__(self, runtime):
            runtimes.append(runtime)

        def upscale(self, image, size, settings, cancel):
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    add_backend("runtime-probe", factory=Probe)
    session = make_session(tiny_clip, tmp_path, height=180)
    session.edit("Probe", edits.set_defaults, {"upscaler": "runtime-probe"})
    job = ExportJob(session, options_for(tmp_path / "out.mp4"), runtime=Runtime("cpu", 96))
    with qtbot.waitSignal(job.finished, timeout=20000):
        job.start()
    assert runtimes == [Runtime("cpu", 96)]
    assert probe(str(tmp_path / "out.mp4")).frame_count == clips.TINY_FRAMES


def positions_at(session, **rate):
    project = session.project
    return len(output_positions(replace(project, output=replace(project.output, **rate))))


def test_a_target_frame_rate_counts_the_frames_it_places(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)  # 24 frames at 24 fps
    dialog = open_dialog(qtbot, session)
    assert dialog.frames_line.text() == (
        "24 of 24 frames are not rendered yet; Export renders them first."
    )
    assert dialog.fps_hint.text() == "24 frames, 00:01.00"
    assert not dialog.custom_fps.isVisible()

    choose_rate(qtbot, dialog, "60")
    assert positions_at(session, target_fps=Fraction(60)) == 60
    assert dialog.fps_hint.text() == "60 frames, 00:01.00; in-between frames made by dis"
    assert dialog.frames_line.text().startswith("60 of 60 frames are not rendered yet")
    options = dialog.options()
    assert (options.fps_multiplier, options.target_fps) == (1, Fraction(60))

    choose_rate(qtbot, dialog, "60000/1001")
    assert dialog.fps_combo.currentText() == "59.94 fps"
    assert dialog.options().target_fps == Fraction(60000, 1001)
    assert dialog.fps_hint.text().startswith(
        f"{positions_at(session, target_fps=Fraction(60000, 1001))} frames, 00:01.00"
    )

    choose_rate(qtbot, dialog, "custom")
    assert dialog.custom_fps.isVisible()
    dialog.custom_fps.setValue(12)  # every other source frame: nothing to interpolate
    qtbot.waitUntil(lambda: dialog.frames is not None)
    assert dialog.fps_hint.text() == "12 frames, 00:01.00"
    assert dialog.options().target_fps == Fraction(12)
    dialog.custom_fps.setValue(29.97)
    assert dialog.options().target_fps == Fraction(30000, 1001)  # NTSC's, exactly

    choose_rate(qtbot, dialog, 2)
    assert (dialog.options().fps_multiplier, dialog.options().target_fps) == (2, None)
    assert dialog.fps_hint.text().startswith(f"{positions_at(session, fps_multiplier=2)} frames")


def test_the_projects_target_rate_is_the_default(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180, target_fps=Fraction(50))
    assert open_dialog(qtbot, session).fps_combo.currentText() == "50 fps"
    session.edit("48", edits.set_output, target_fps=Fraction(48))  # that is ×2
    assert open_dialog(qtbot, session).fps_combo.currentText() == "×2 (48 fps)"
    session.edit("40", edits.set_output, target_fps=Fraction(40))
    dialog = open_dialog(qtbot, session)
    assert dialog.fps_combo.currentText() == "Other…" and dialog.custom_fps.value() == 40


def test_an_unusable_interpolator_is_named_before_exporting(qtbot, tiny_clip, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path / "models"))
    session = make_session(tiny_clip, tmp_path, height=180)
    session.edit("rife", edits.set_defaults, {"interpolator": "rife"})
    dialog = open_dialog(qtbot, session)
    choose_rate(qtbot, dialog, 2)
    assert dialog.fps_hint.text().startswith("⚠ rife cannot run here: no RIFE weights")


def test_an_export_at_a_target_rate_writes_its_frames(qtbot, tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    options = options_for(tmp_path / "50.mp4", target_fps=Fraction(50), audio=False)
    job = ExportJob(session, options)
    steps = []
    job.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(job.finished, timeout=30000) as finished:
        job.start()
    info = probe(options.path)
    assert info.fps == Fraction(50)
    assert info.frame_count == finished.args[0].frames == 50 == positions_at(
        session, target_fps=Fraction(50)
    )
    assert steps[-1] == (50, 50)
