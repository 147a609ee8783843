"""Conditioned frames: deinterlaced against the progressive truth, frame-accurate, counted at
field rate; decoded by the source's matrix and range."""

import random
from fractions import Fraction

import numpy as np
import pytest
import source_clips
from clips import run_ffmpeg

from sdhd_studio.core.conditioning import condition
from sdhd_studio.core.errors import SettingError
from sdhd_studio.media.combing import comb_score
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader


def _gray(rgb):
    return rgb.astype(np.float32).mean(axis=2)


@pytest.mark.parametrize(("name", "order"), [("pal_mpg", "tff"), ("dv_avi", "bff")])
def test_double_rate_matches_the_truth_better_than_weaving_and_as_well_as_bwdif(
    tapes, tmp_path, name, order
):
    path = tapes(name)
    info = condition(source_clips.analysed(path))
    stream_fps = probe(path).fps
    assert info.conditioning.mode == "double" and info.conditioning.order == order
    assert info.fps == 2 * stream_fps and info.frame_count == 2 * probe(path).frame_count
    frames = source_clips.read_all(path, info)
    truth = source_clips.bt601_frames(tapes.truth(name))
    assert len(frames) == len(truth)
    reference = tmp_path / "bwdif.mkv"
    run_ffmpeg("-i", path, "-vf", f"bwdif=mode=send_field:parity={order}", "-c:v", "ffv1",
               str(reference))  # fmt: skip
    woven = [f for f in source_clips.bt601_frames(path) for _ in range(2)]
    ours = source_clips.mean_psnr(frames, truth)
    assert ours >= source_clips.mean_psnr(source_clips.bt601_frames(reference), truth) - 0.01
    assert ours > source_clips.mean_psnr(woven, truth) + 3
    # No combing left where things move.
    combs = [comb_score(_gray(f), np.abs(_gray(f) - _gray(p)) > 8)
             for p, f in zip(frames, frames[1:], strict=False)]  # fmt: skip
    assert max(combs) < 0


def test_conditioned_frames_are_the_same_however_reached(tapes):
    path = tapes("pal_ts")
    info = condition(source_clips.analysed(path))
    frames = source_clips.read_all(path, info)
    count = len(frames)
    order = [count - 1, 0, 1, *random.Random(5).sample(range(count), count), count - 2, 0]
    with FrameReader(path, info, cache_size=1) as reader:
        for index in order:
            assert np.array_equal(reader.read(index), frames[index]), index


def test_single_and_off(tapes):
    path = tapes("pal_mpg")
    analysed = source_clips.analysed(path)
    single = condition(analysed, deinterlace="single")
    assert (single.fps, single.frame_count) == (25, 25)
    frames = source_clips.read_all(path, single)
    truth = source_clips.bt601_frames(tapes.truth("pal_mpg"))[::2]
    woven = source_clips.bt601_frames(path)
    assert source_clips.mean_psnr(frames, truth) > source_clips.mean_psnr(woven, truth)
    off = condition(analysed, deinterlace="off")
    assert off.conditioning.mode == "progressive" and (off.fps, off.frame_count) == (25, 25)
    read = source_clips.read_all(path, off)
    assert all(np.array_equal(a, b) for a, b in zip(read, woven, strict=True))
    # A progressive source forced to be read as fields.
    forced = condition(analysed, field_order="bff")
    assert forced.conditioning.order == "bff" and forced.fps == Fraction(50)


def test_choices_are_checked():
    info = probe(str(source_clips.SAMPLE))
    with pytest.raises(SettingError, match="--deinterlace must be one of auto, double"):
        condition(info, deinterlace="triple")


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_colour_patches_by_the_source_matrix_and_range(tmp_path, matrix):
    """Full-range and limited-range sources of both matrices give the patch's RGB back."""
    patch = (40, 180, 90)
    for full in (True, False):
        path = tmp_path / f"{matrix}_{full}.mkv"
        tag = "bt470bg" if matrix == "bt601" else "bt709"
        run_ffmpeg(
            "-f", "lavfi", "-i", "color=c=0x28B45A:s=64x64:r=25:d=0.2",
            "-vf", f"scale=out_color_matrix={matrix}:out_range={'full' if full else 'limited'}"
            ",format=yuv420p",
            "-colorspace", tag, "-color_range", "pc" if full else "tv",
            "-c:v", "ffv1", str(path),
        )  # fmt: skip
        info = condition(source_clips.analysed(str(path)))
        assert (info.conditioning.matrix, info.conditioning.full_range) == (matrix, full)
        got = source_clips.read_all(str(path), info)[0][32, 32]
        assert np.abs(got.astype(int) - patch).max() <= 3, (full, got)

