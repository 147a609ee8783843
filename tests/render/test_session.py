"""The engine end to end on real clips: render, re-render what changed, undo, masks, failures."""

import os
import shutil

import clips
import numpy as np
import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, MediaError, SourceChangedError
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.media.images import encode_png
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.render.events import FrameDone
from sdhd_studio.render.session import Session
from sdhd_studio.render.status import FrameState


@pytest.fixture
def session(tiny_clip, tmp_path):
    return Session.create(tiny_clip, tmp_path / "tiny.sdhd", output=OutputSettings(height=180))


def test_render_makes_every_frame_at_the_output_size(session):
    summary = session.render(workers=2)
    assert (summary.rendered, summary.cached, summary.failed) == (clips.TINY_FRAMES, 0, 0)
    status = session.status()
    assert status.counts()["done"] == clips.TINY_FRAMES
    frame = session.cache.get(session.plan().keys[5])
    assert frame.shape == (180, 320, 3)
    # The HD frame is the source picture, upscaled: compare at source size.
    # Read as the project reads its source (its colour conversion).
    with FrameReader(session.project.source.path, session.project.source.info) as reader:
        source = reader.read(5).astype(float)
    small = frame.reshape(90, 2, 160, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - source).mean() < 6


def test_a_second_render_only_uses_the_cache(session):
    session.render()
    again = session.render()
    assert (again.rendered, again.cached) == (0, clips.TINY_FRAMES)


def test_changing_a_keyframe_re_renders_exactly_the_frames_it_governs(session):
    session.edit("k8", edits.set_keyframe, 8, {"sharpen": 0.5})
    session.edit("k16", edits.set_keyframe, 16, {"sharpen": 0.1})
    session.render()
    session.edit("k8 again", edits.set_keyframe, 8, {"sharpen": 1.0})
    assert list(session.status().todo()) == list(range(8, 16))
    assert session.status().state(8) == FrameState.DIRTY
    done = []
    summary = session.render(on_event=lambda e: isinstance(e, FrameDone) and done.append(e.index))
    assert summary.rendered == 8 and sorted(done) == list(range(8, 16))


def test_undo_brings_back_cached_frames_without_rendering(session):
    session.render()
    session.edit("upscaler", edits.set_keyframe, 0, {"upscaler": "bicubic"})
    assert session.status().counts()["dirty"] == clips.TINY_FRAMES
    session.undo()
    assert session.status().counts()["done"] == clips.TINY_FRAMES
    assert session.render().rendered == 0
    # The undo was saved: reopening shows the same state.
    assert Session.open(session.folder.path).project == session.project


def test_a_mask_fills_its_area_on_its_frames_only(session):
    session.render()
    before = session.cache.get(session.plan().keys[3])
    mask = np.zeros((90, 160), np.uint8)
    mask[30:60, 60:100] = 255
    digest = session.store_mask(encode_png(mask))
    session.edit("mask", edits.set_mask, 3, digest, 4)
    assert list(session.status().todo()) == [3, 4]
    session.render()
    after = session.cache.get(session.plan().keys[3])
    inside = np.abs(after[70:110, 130:190].astype(int) - before[70:110, 130:190]).mean()
    outside = np.abs(after[:40].astype(int) - before[:40]).max()
    assert inside > 5 and outside == 0


def test_corrupt_frames_fail_with_a_message_and_the_rest_render(corrupt_clip, tmp_path):
    session = Session.create(corrupt_clip, tmp_path / "c.sdhd", output=OutputSettings(height=96))
    summary = session.render()
    assert sorted(summary.errors) == list(clips.CORRUPT_FRAMES)
    assert all("could not be decoded" in m for m in summary.errors.values())
    assert summary.rendered == clips.CORRUPT_TOTAL - len(clips.CORRUPT_FRAMES)
    # Failures are remembered: a new session still shows them.
    status = Session.open(session.folder.path).status()
    assert list(status.frames_in(FrameState.FAILED)) == list(clips.CORRUPT_FRAMES)
    assert "could not be decoded" in status.errors[clips.CORRUPT_FRAMES[0]]


def test_a_touched_or_moved_source_keeps_its_cache(tiny_clip, tmp_path):
    video = tmp_path / "tape.mp4"
    shutil.copy(tiny_clip, video)
    session = Session.create(video, tmp_path / "p.sdhd", output=OutputSettings(height=180))
    session.render()
    os.utime(video, (1, 1))
    assert Session.open(session.folder.path).status().counts()["done"] == clips.TINY_FRAMES
    moved = tmp_path / "elsewhere.mp4"
    video.rename(moved)
    with pytest.raises(MediaError, match="sdhd relocate"):
        Session.open(session.folder.path)
    relocated = Session.open(session.folder.path, relocate=moved)
    assert relocated.status().counts()["done"] == clips.TINY_FRAMES
    assert Session.open(session.folder.path).project.source.path == str(moved)


def test_a_replaced_source_is_refused(tiny_clip, odd_clip, tmp_path):
    video = tmp_path / "tape.mp4"
    shutil.copy(tiny_clip, video)
    session = Session.create(video, tmp_path / "p.sdhd")
    shutil.copy(odd_clip, video)
    with pytest.raises(SourceChangedError, match="replaced"):
        Session.open(session.folder.path)


def test_odd_sized_sources_give_even_output(odd_clip, tmp_path):
    session = Session.create(odd_clip, tmp_path / "o.sdhd", output=OutputSettings(None, 2))
    width, height = session.project.frame_size
    assert (width % 2, height % 2) == (0, 0)
    session.render(frames=[0])
    assert session.cache.get(session.plan().keys[0]).shape == (height, width, 3)


def test_an_editor_session_saves_only_when_asked(tiny_clip, tmp_path):
    path = tmp_path / "ed.sdhd"
    Session.create(tiny_clip, path)
    session = Session.open(path, save_edits=False)
    session.edit("Keyframe", edits.set_keyframe, 4, {"sharpen": 1.0})
    assert session.modified
    assert Session.open(path).project.keyframes == ()
    session.autosave()
    reopened = Session.open(path, save_edits=False)
    assert reopened.restore_autosave() and reopened.modified
    assert reopened.project.keyframe_at(4).settings == {"sharpen": 1.0}
    reopened.undo()
    assert reopened.project.keyframes == () and not reopened.modified
    session.save()
    assert not session.modified and not session.folder.autosave_file.exists()
    assert Session.open(path).project.keyframe_at(4).settings == {"sharpen": 1.0}


def test_save_as_keeps_rendered_frames_and_leaves_the_original(session, tmp_path):
    session.render(frames=range(5))
    session.edit("Sharpen", edits.set_defaults, {"sharpen": 0.5})
    original = session.folder.path
    session.save_as(tmp_path / "copy.sdhd")
    assert session.folder.path == tmp_path / "copy.sdhd"
    session.undo()  # back to the rendered settings: the copy has those frames too
    assert session.status().counts()["done"] == 5
    assert Session.open(original).project.defaults["sharpen"] == 0.5


def test_a_cancelled_start_leaves_no_project_folder(tapes, tmp_path):
    """Cancelled while it matches the fields of telecined film, nothing was written: no
    half-made NAME.sdhd to be taken later for an existing project."""
    token = CancelToken()
    steps = []

    def step(done, total):
        steps.append(done)
        if done == 10:
            token.cancel()

    with pytest.raises(Cancelled):
        Session.create(tapes("film_mpg"), tmp_path / "film.sdhd", cancel=token.child(step))
    assert steps[-1] == 10 and not (tmp_path / "film.sdhd").exists()
    made = Session.create(tapes("film_mpg"), tmp_path / "film.sdhd", cancel=CancelToken())
    assert made.project.source.info.conditioning.mode == "ivtc"
    assert made.project.frame_count == 24  # the film's frames
