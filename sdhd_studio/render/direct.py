"""Plain jobs handed to ffmpeg whole: when every frame of a one-shot export is the source
picture as it is (or deinterlaced by bwdif), resized by Lanczos and nothing else, ffmpeg
decodes, deinterlaces, scales and encodes in one process, about as fast as ffmpeg alone;
frames through Python cost ~1.5x that (benchmarks/README.md, "The fast path").

Only a one-shot job may: the pixels come from FFmpeg's own scaler working in Y'CbCr, which
differ slightly (~44 dB apart, as close to an HD original) from the `lanczos` backend's RGB
frames, and no frame is stored, so a project's cache and timeline never mix the two. The
frames must also be the pictures ffmpeg decodes, one for one: a regular, constant-rate stream
starting at a keyframe, checked on the frame index; the export counts what ffmpeg made and
makes the frames one by one instead if the count is off.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from sdhd_studio.core.project import Project
from sdhd_studio.media import disc
from sdhd_studio.media.container import frame_threads_ok, open_video
from sdhd_studio.media.frame_index import frame_index
from sdhd_studio.media.writer import DirectSource
from sdhd_studio.render.plan import Plan

UPSCALER = "lanczos"
# Conditioning modes ffmpeg does alone: the pictures as they are, or bwdif as the reader runs it
# (media/reader.py `_Deinterlacer`); not inverse telecine or motion-compensated fields.
_DEINTERLACE = {
    "progressive": "",
    "double": "bwdif=mode=send_field:parity={order}:deint=all,",
    "single": "bwdif=mode=send_frame:parity={order}:deint=all,",
}

# What every encoder is fed (media/encoders.py): 4:2:0, limited range.
_OUTPUT_FORMAT = "yuv420p"


def direct_source(project: Project, plan: Plan, size: tuple[int, int]) -> DirectSource | None:
    """What ffmpeg should make for `plan` at `size`, or None when the job needs more than its
    filters (inverse telecine, `mc` fields, masks, guides, other upscalers, sharpening,
    frame-rate change) or the stream is not one ffmpeg decodes picture for picture as the
    project counts them."""
    info = project.source.info
    cond = info.conditioning
    path = project.source.path
    if cond.mode not in _DEINTERLACE or cond.motion or not cond.matrix or info.rotation:
        return None
    positions = plan.positions
    if plan.pairs or len(positions) != info.frame_count or any(
            t or index != place for place, (index, t) in enumerate(positions)):
        return None
    for index in range(len(positions)):
        job = plan.job(index)
        if (job.upscaler != UPSCALER or job.mask is not None or job.guides
                or float(job.upscale_settings.get("sharpen", 0.0))):
            return None
    pictures = cond.stream_frames or info.frame_count
    stream = _regular_stream(path, pictures, cond.stream_fps or info.fps)
    if stream is None:
        return None
    width, height = size
    levels = "pc" if cond.full_range else "tv"
    # The scale's output format is named: left to it, a full-range source's yuvj format is kept
    # (out_range ignored) and a second, plain conversion brings it to limited range: 2 levels off.
    filters = (
        f"{_DEINTERLACE[cond.mode].format(order=cond.order)}setpts=PTS-STARTPTS,scale={width}:{height}:flags=lanczos+accurate_rnd+full_chroma_int:"
        f"in_color_matrix={cond.matrix}:in_range={levels}:out_color_matrix=bt709:out_range=tv,"
        f"format={_OUTPUT_FORMAT}"
    )
    return DirectSource(disc.url(path), stream, filters, len(positions),
                        threads=0 if frame_threads_ok(info.codec) else 1)


def _regular_stream(path: str, frames: int, fps: Fraction) -> int | None:
    """The video stream's index in its file when its pictures are `frames` evenly spaced ones
    at `fps`, the first a keyframe; None otherwise."""
    index = frame_index(path)
    if index.count != frames or not len(index.keyframes) or index.keyframes[0] != 0:
        return None
    step = 1 / (fps * index.time_base)
    if step.denominator != 1 or not np.all(np.diff(index.pts) == step.numerator):
        return None
    container, stream = open_video(path)
    with container:
        return stream.index
