"""Readers of the project's source with everything its conditioning needs, including the
motion-compensated deinterlacer, which lives in ml/ above the reader's layer."""

from __future__ import annotations

from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml.deinterlace import refine_field


def open_reader(path: str, info: VideoInfo, *, cache_size: int = 8) -> FrameReader:
    """A FrameReader of the project's frames: `info.conditioning` says how they are made."""
    return FrameReader(path, info, cache_size=cache_size, refine=refine_field)
