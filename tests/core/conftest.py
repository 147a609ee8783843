from fractions import Fraction

import pytest

from sdhd_studio.core.edits import new_project
from sdhd_studio.core.source import AudioInfo, Fingerprint, Source, VideoInfo


def make_source(frames: int = 100, width: int = 640, height: int = 360,
                sar: Fraction = Fraction(1)) -> Source:
    info = VideoInfo(
        width=width, height=height, sample_aspect=sar, rotation=0, pix_fmt="yuv420p",
        codec="h264", avg_rate=Fraction(25), real_rate=Fraction(25), fps=Fraction(25),
        frame_count=frames, duration=frames / 25, start_time=0.0, vfr=False,
        audio=(AudioInfo(1, "aac", 48000, 2, 0.0, frames / 25),),
    )
    return Source("/videos/tape.mp4", Fingerprint(123, "ab" * 32, 1), info)


@pytest.fixture
def project():
    return new_project(make_source())
