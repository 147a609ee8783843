"""Readers of the project's frames with the motion-compensated deinterlacer injected."""


import numpy as np
import source_clips

from sdhd_studio.core.conditioning import condition
from sdhd_studio.render.sources import open_reader


def test_motion_compensated_fields_beat_bwdif(tapes):
    path = tapes("pal_mpg")
    analysed = source_clips.analysed(path)
    plain, motion = condition(analysed), condition(analysed, deinterlace="mc")
    assert motion.conditioning.motion and (motion.fps, motion.frame_count) == (50, 50)
    assert plain.conditioning.stage() != motion.conditioning.stage()
    truth = source_clips.bt601_frames(tapes.truth("pal_mpg"))
    with open_reader(path, motion) as reader:
        refined = [frame for _, frame in reader.frames()]
        # Measured +0.82 dB on this clip (and +0.66 on the NTSC DV one).
        bwdif = source_clips.mean_psnr(source_clips.read_all(path, plain), truth)
        assert source_clips.mean_psnr(refined, truth) > bwdif + 0.5
        for index in (49, 0, 31, 30, 7):
            assert np.array_equal(reader.read(index), refined[index]), index
