"""What a video file holds: size, rates, frame count and audio, as `VideoInfo`."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from sdhd_studio.core.source import AudioInfo, VideoInfo
from sdhd_studio.media.container import open_video
from sdhd_studio.media.frame_index import FrameIndex, frame_index

# Rates above this are timebase artefacts (e.g. 90000/1), not real frame rates.
_MAX_SANE_RATE = 1000
# How far the container's average rate may stray from the counted one and still be trusted.
_RATE_TOLERANCE = 0.01
# Longer steps than usual in at most this share of places, plus a few (one dropout also
# loses the pictures of the GOP it breaks), are pictures missing from a constant-rate stream,
# not a variable rate.
_MAX_GAPS = 0.02
_DROPOUT_STEPS = 4
# Packets to try when looking for a first decodable picture (to learn rotation and format).
_FIRST_FRAME_PACKETS = 120


def probe(path: str) -> VideoInfo:
    """Probe `path` with one demux pass (no full decode); raises MediaError if it has no video."""
    path = os.path.abspath(path)
    container, stream = open_video(path)
    # Stream objects must not be touched once the container is closed (PyAV frees them).
    try:
        index = frame_index(path)
        rotation, pix_fmt = _first_picture_facts(container, stream)
        audio = tuple(_audio_info(s) for s in container.streams.audio)
        # A rate that is a timebase artefact (raw DV's average rate is 60000) is not stated.
        avg_rate, real_rate = (_stated(rate) for rate in (stream.average_rate, stream.base_rate))
        width, height = stream.codec_context.width, stream.codec_context.height
        sar = Fraction(stream.sample_aspect_ratio or 1) or Fraction(1)
        codec = stream.codec_context.name
    finally:
        container.close()

    span = (index.end_pts - int(index.pts[0])) * index.time_base
    vfr, step = _spacing(index.pts)
    counted = Fraction(index.count) / span if step is None else 1 / (step * index.time_base)
    fps = _grid_rate(avg_rate, real_rate, counted, vfr)
    frame_count = max(1, round(span * fps))

    if rotation in (90, 270):
        width, height, sar = height, width, 1 / sar
    return VideoInfo(
        width=width,
        height=height,
        sample_aspect=sar,
        rotation=rotation,
        pix_fmt=pix_fmt,
        codec=codec,
        avg_rate=avg_rate,
        real_rate=real_rate,
        fps=fps,
        frame_count=frame_count,
        duration=float(frame_count / fps),
        start_time=float(int(index.pts[0]) * index.time_base),
        vfr=vfr,
        audio=audio,
    )


def grid_pictures(index: FrameIndex, info: VideoInfo) -> np.ndarray:
    """For each project frame N, the position in `index.pts` of the picture it shows.

    Frame N shows the last picture whose timestamp is at or before start + N/fps; half a frame
    of slack absorbs timestamp rounding, so a constant-rate file maps one to one.
    """
    ticks_per_frame = float(1 / (info.fps * index.time_base))
    start = round(info.start_time / index.time_base)
    due = start + (np.arange(info.frame_count, dtype=np.float64) + 0.5) * ticks_per_frame
    shown = np.searchsorted(index.pts, due, side="right") - 1
    return np.clip(shown, 0, index.count - 1)


def _first_picture_facts(container: InputContainer, stream: VideoStream) -> tuple[int, str]:
    """Rotation (clockwise degrees) and pixel format, read from the first decodable picture.

    Rotation lives in the display matrix, which FFmpeg hands over as frame side data.
    """
    fallback = (_rotate_tag(stream), stream.codec_context.pix_fmt or "unknown")
    try:
        for n, packet in enumerate(container.demux(stream)):
            if n >= _FIRST_FRAME_PACKETS:
                break
            for frame in packet.decode():
                # PyAV reports the counter-clockwise angle; VideoInfo wants clockwise.
                return (-frame.rotation) % 360 // 90 * 90, frame.format.name
    except av.FFmpegError:
        pass  # a damaged start is reported when that frame is read, not here
    return fallback


def _rotate_tag(stream: VideoStream) -> int:
    try:
        return int(stream.metadata.get("rotate", "0")) % 360 // 90 * 90
    except ValueError:
        return 0


def _spacing(pts: np.ndarray) -> tuple[bool, Fraction | None]:
    """Whether the pictures come at a variable rate, and else their usual step (in ticks): the
    mean step, leaving out the gaps that pictures missing from a constant-rate stream leave (a
    dropout in a recording): a few longer steps, and no shorter one."""
    if len(pts) < 3:
        return False, None
    steps = np.diff(pts)
    median = float(np.median(steps))
    # Millisecond timebases store 29.97 fps as steps of 33 and 34; that is still constant.
    slack = max(2.0, 0.1 * median)
    longer = steps > median + slack
    gaps = int(longer.sum())
    vfr = bool((steps < median - slack).any()) or gaps > _MAX_GAPS * len(steps) + _DROPOUT_STEPS
    usual = steps[~longer]
    return vfr, None if vfr else Fraction(int(usual.sum()), len(usual))


def _sane(rate: Fraction) -> bool:
    return 0 < rate <= _MAX_SANE_RATE


def _stated(rate: Fraction | None) -> Fraction:
    rate = Fraction(rate or 0)
    return rate if _sane(rate) else Fraction(0)


def _grid_rate(avg: Fraction, real: Fraction, counted: Fraction, vfr: bool) -> Fraction:
    """The project's frame rate: the container's when it agrees with the counted pictures."""
    if _sane(avg) and abs(avg / counted - 1) <= _RATE_TOLERANCE:
        # AVI states NTSC rates as e.g. 19001/634; the broadcast rate it means is 30000/1001.
        snapped = Fraction(round(avg * 1001), 1001)
        return snapped if abs(snapped / avg - 1) < 1e-5 else avg
    if not vfr and _sane(real) and abs(real / counted - 1) <= _RATE_TOLERANCE:
        return real
    return counted.limit_denominator(1001)


def _audio_info(stream: av.audio.stream.AudioStream) -> AudioInfo:
    tb = stream.time_base or Fraction(1, stream.sample_rate or 1)
    language = stream.metadata.get("language", "")
    return AudioInfo(
        index=stream.index,
        codec=stream.codec_context.name,
        sample_rate=stream.sample_rate or 0,
        channels=stream.channels or 0,
        start_time=float(stream.start_time * tb) if stream.start_time is not None else 0.0,
        duration=float(stream.duration * tb) if stream.duration else None,
        language=language if language not in ("", "und") else None,  # und: undetermined
    )
