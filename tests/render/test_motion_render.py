"""Rendering frames made from other frames, on a real clip: in-betweens, guided frames,
carried masks."""

from fractions import Fraction

import clips
import cv2
import numpy as np

from sdhd_studio.core import edits
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.media.images import encode_png
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.render.export import export_video
from sdhd_studio.render.session import Session


def make_session(source, tmp_path, name="p", settings=None, **output):
    return Session.create(source, tmp_path / f"{name}.sdhd", output=OutputSettings(**output),
                          settings=settings or {})


def test_in_betweens_sit_between_their_frames_and_only_neighbours_of_an_edit_rerender(
    bbb_clip, tmp_path
):
    session = make_session(bbb_clip, tmp_path, height=180, fps_multiplier=2)
    first = session.render()
    assert (first.rendered, first.failed) == (2 * clips.BBB_FRAMES - 1, 0)
    plan = session.plan()
    pair = plan.pairs[20]
    a, b = session.cache.get(pair.a_key), session.cache.get(pair.b_key)
    middle = session.cache.get(pair.outputs[0][1])
    blend = ((a.astype(np.uint16) + b) // 2).astype(np.uint8)
    assert psnr(middle, a) < 60 and psnr(middle, b) < 60  # a new picture, not a copy
    assert psnr(middle, blend) > 25
    session.edit("sharpen 12", edits.set_keyframe, 12, {"sharpen": 0.5})
    session.edit("hold 13", edits.set_keyframe, 13, {"sharpen": 0.0})
    again = session.render()
    assert again.rendered == 3  # frame 12 and the in-betweens on either side of it


def test_export_at_a_target_rate_keeps_length_and_audio(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=90)
    result = export_video(session, tmp_path / "out.mp4", preset="ultrafast",
                          target_fps=Fraction(60))
    info = probe(str(tmp_path / "out.mp4"))
    assert (info.frame_count, info.fps) == (60, 60)  # one second at 24 fps -> 60 frames
    assert result.frames == 60
    assert clips.audio_duration(tmp_path / "out.mp4") == info.duration or abs(
        clips.audio_duration(tmp_path / "out.mp4") - info.duration) < 0.05
    assert session.project.output.target_fps is None  # an override, not an edit


def test_a_guided_frame_brings_in_its_keyframes(bbb_clip, tmp_path):
    session = make_session(bbb_clip, tmp_path, height=180,
                           settings={"mode": "guided", "upscaler": "bicubic"})
    session.edit("keyframes", edits.add_keyframes, 8)
    summary = session.render([11])
    assert (summary.rendered, summary.failed) == (3, 0)  # frames 8, 16, then 11
    assert session.status().counts()["done"] == 3


def test_guided_frames_are_closer_to_the_expensive_result_than_the_fast_one(bbb_clip, tmp_path):
    expensive = {"upscaler": "realesrgan"}
    per_frame = make_session(bbb_clip, tmp_path, "per-frame", expensive, height=360)
    guided = make_session(bbb_clip, tmp_path, "guided", {**expensive, "mode": "guided"},
                          height=360)
    guided.edit("keyframes", edits.add_keyframes, 8)
    frames = range(0, 17)
    per_frame.render(frames)
    guided.render(frames)
    fast = make_session(bbb_clip, tmp_path, "fast", height=360)
    fast.render(frames)
    gains = []
    for index in (3, 4, 5, 11, 12, 13):
        truth = per_frame.cache.get(per_frame.plan().keys[index])
        ours = guided.cache.get(guided.plan().keys[index])
        lanczos = fast.cache.get(fast.plan().keys[index])
        gains.append(psnr(ours, truth) - psnr(lanczos, truth))
    assert np.mean(gains) > 1.0, gains


def test_a_tracked_mask_is_carried_and_its_masks_survive_gc(bbb_clip, tmp_path):
    session = make_session(bbb_clip, tmp_path, height=180)
    mask = np.zeros((90, 160), np.uint8)
    mask[30:60, 60:100] = 255
    digest = session.store_mask(encode_png(mask))
    report = session.track_mask(10, digest, end=18, start=6)
    assert (report.first, report.last) == (6, 18), report.warnings
    plan = session.plan()
    carried = [plan.job(i).mask for i in range(6, 19) if i != 10]
    assert all(m.key in session.cache for m in carried)
    areas = [int((session.cache.get(m.key) > 0).sum()) for m in carried]
    assert all(0.7 * mask.astype(bool).sum() < a < 1.3 * mask.astype(bool).sum() for a in areas)
    summary = session.render(range(4, 20))
    assert (summary.rendered, summary.failed) == (16, 0)
    session.gc()
    assert all(m.key in session.cache for m in carried)


def test_temporal_fill_renders_masked_frames_from_their_neighbours(bbb_clip, tmp_path):
    session = make_session(bbb_clip, tmp_path, height=90, settings={"fill_frames": 3})
    mask = np.zeros((90, 160), np.uint8)
    mask[10:25, 110:150] = 255  # a "logo" in a corner, held on every frame
    digest = session.store_mask(encode_png(mask))
    session.edit("logo", edits.set_mask, 0, digest, clips.BBB_FRAMES - 1, "temporal-fill")
    job = session.plan().job(5)
    assert [offset for offset, _ in job.neighbours] == [-1, 1, -2, 2, -3, 3]
    summary = session.render(range(3, 8))
    assert (summary.rendered, summary.failed) == (5, 0)
    with FrameReader(bbb_clip) as reader:
        source = reader.read(5)
    out = session.cache.get(session.plan().keys[5])
    outside = cv2.resize(source, (160, 90)), out
    assert psnr(*[o[40:, :100] for o in outside]) > 35  # far from the mask: as the source
