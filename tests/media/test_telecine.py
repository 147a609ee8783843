"""Inverse telecine: telecined film back to its film frames, against the film it was made from
and beside ffmpeg's fieldmatch+decimate; cadence breaks and video-rate parts."""

import dataclasses
import random
from fractions import Fraction

import numpy as np
import pytest
import source_clips
from clips import run_ffmpeg

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.conditioning import condition, wants_ivtc
from sdhd_studio.core.errors import Cancelled, SettingError
from sdhd_studio.media.analysis import analyse
from sdhd_studio.media.combing import comb_score
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.telecine import telecine_map


def _film_info(path):
    info = probe(path)
    info = dataclasses.replace(info, analysis=analyse(path, info))
    assert wants_ivtc(info, field_order="auto", deinterlace="auto", ivtc="auto")
    return condition(info, telecine=telecine_map(path, info, "tff"))


def _read_all(path, info):
    with FrameReader(path, info) as reader:
        return [frame for _, frame in reader.frames()]


def _no_combing(frames):
    grays = [f.astype(np.float32).mean(axis=2) for f in frames]
    return max(comb_score(b, np.abs(b - a) > 8) for a, b in zip(grays, grays[1:], strict=False))


def test_film_frames_come_back(tapes, tmp_path):
    path = tapes("film_mpg")
    info = _film_info(path)
    assert info.conditioning.mode == "ivtc"
    assert (info.frame_count, info.fps) == (source_clips.FILM_FRAMES, Fraction(24000, 1001))
    frames = _read_all(path, info)
    truth = source_clips.bt601_frames(tapes.truth("film_mpg"))
    ours = [psnr(a, b) for a, b in zip(frames, truth, strict=True)]
    reference = tmp_path / "fieldmatch.mkv"
    run_ffmpeg("-i", path, "-vf", "fieldmatch=order=tff,decimate", "-c:v", "ffv1",
               str(reference))  # fmt: skip
    theirs = [psnr(a, b) for a, b in zip(source_clips.bt601_frames(reference), truth,
                                          strict=True)]  # fmt: skip
    assert min(ours) > 35  # every film frame found, none a blend of two
    assert np.mean(ours) >= np.mean(theirs) - 0.01
    assert _no_combing(frames) < 0
    count = len(frames)
    with FrameReader(path, info, cache_size=1) as reader:
        for index in [count - 1, 0, *random.Random(2).sample(range(count), count)]:
            assert np.array_equal(reader.read(index), frames[index]), index


def test_cadence_breaks_and_video_parts(tapes):
    path = tapes("breaks_mpg")
    info = _film_info(path)
    frames = _read_all(path, info)
    pictures = sum(source_clips.BREAK_PICTURES)
    # One picture dropped per full cycle of five; the short last cycle had no repeat to drop.
    assert len(frames) == pictures - pictures // 5
    assert _no_combing(frames) < 0
    # Film frames woven from matching fields, video deinterlaced: each shows one moment of the
    # source (all of it is cut from the same film).
    truth = source_clips.bt601_frames(tapes.truth("film_mpg"))
    assert min(max(psnr(f, t) for t in truth) for f in frames) > 35


def test_ivtc_needs_its_map_and_can_be_refused(tapes):
    path = tapes("film_mpg")
    info = probe(path)
    info = dataclasses.replace(info, analysis=analyse(path, info))
    with pytest.raises(SettingError, match="telecine map"):
        condition(info)
    assert not wants_ivtc(info, field_order="auto", deinterlace="auto", ivtc="off")
    assert condition(info, ivtc="off").conditioning.mode == "double"


def test_ivtc_is_refused_for_a_pal_tape(tapes):
    # 3:2 pulldown makes 29.97 pictures a second; at 25 it would make 20 fps out of video.
    path = tapes("pal_mpg")
    info = probe(path)
    info = dataclasses.replace(info, analysis=analyse(path, info))
    with pytest.raises(SettingError, match="29.97 pictures a second; this source has 25"):
        wants_ivtc(info, field_order="auto", deinterlace="auto", ivtc="on")
    assert not wants_ivtc(info, field_order="auto", deinterlace="auto", ivtc="auto")


def test_the_pass_counts_its_pictures_and_stops_when_cancelled(tapes):
    path = tapes("film_mpg")
    info = probe(path)
    pictures = info.frame_count  # 30: each picture is matched once
    steps = []
    telecine_map(path, info, "tff", CancelToken().child(lambda *step: steps.append(step)))
    assert steps == [(n, pictures) for n in range(1, pictures + 1)]

    token = CancelToken()
    seen = []

    def step(done, total):
        seen.append(done)
        if done == 5:
            token.cancel()  # as the editor's Cancel does, from another thread

    with pytest.raises(Cancelled):
        telecine_map(path, info, "tff", token.child(step))
    assert seen == [1, 2, 3, 4, 5]  # the pass stopped at once, not after the whole file
