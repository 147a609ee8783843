"""Readers of the project's frames with the motion-compensated deinterlacer injected."""

import dataclasses

import numpy as np
import source_clips

from sdhd_studio.core.conditioning import condition
from sdhd_studio.media.analysis import analyse
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.render.sources import open_reader


def _analysed(path):
    info = probe(path)
    return dataclasses.replace(info, analysis=analyse(path, info))


def _read_all(path, info):
    with FrameReader(path, info) as reader:
        return [frame for _, frame in reader.frames()]


def _mean_psnr(frames, truth):
    return float(np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=True)]))


def test_motion_compensated_fields_beat_bwdif(tapes):
    path = tapes("pal_mpg")
    analysed = _analysed(path)
    plain, motion = condition(analysed), condition(analysed, deinterlace="mc")
    assert motion.conditioning.motion and (motion.fps, motion.frame_count) == (50, 50)
    assert plain.conditioning.stage() != motion.conditioning.stage()
    truth = source_clips.bt601_frames(tapes.truth("pal_mpg"))
    with open_reader(path, motion) as reader:
        refined = [frame for _, frame in reader.frames()]
        # Measured +0.47 dB on this clip (and +0.47 on the NTSC DV one).
        assert _mean_psnr(refined, truth) > _mean_psnr(_read_all(path, plain), truth) + 0.3
        for index in (49, 0, 31, 30, 7):
            assert np.array_equal(reader.read(index), refined[index]), index
