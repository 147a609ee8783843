"""Where every picture of a video lies in time, found by one demux pass and shared process-wide.

Demuxing reads packet headers only, so it is fast even for long files; the result is cached by
(path, size, mtime) so that probe and every reader thread reuse one pass.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.stream import Discard
from av.video.stream import VideoStream

from sdhd_studio.core.errors import MediaError
from sdhd_studio.media import disc
from sdhd_studio.media.container import open_video


@dataclass(frozen=True)
class FrameIndex:
    time_base: Fraction
    pts: np.ndarray  # int64, presentation timestamps of every picture, ascending
    keyframes: np.ndarray  # int64, ascending positions in `pts` of pictures a decoder can start at
    end_pts: int  # when the last picture stops being shown
    # int64, per keyframe: the decode timestamp of its packet (its pts when the container
    # gives none), which is what a seek is aimed at and what tells a seek that landed late.
    key_dts: np.ndarray

    @property
    def count(self) -> int:
        return len(self.pts)

    def keyframe_before(self, picture: int) -> int:
        """The last keyframe at or before `picture`, or the first keyframe if there is none."""
        pos = int(np.searchsorted(self.keyframes, picture, side="right")) - 1
        return int(self.keyframes[max(pos, 0)])

    def decode_time(self, keyframe: int) -> int:
        """The decode timestamp of keyframe `keyframe`'s packet (a position in `pts`)."""
        return int(self.key_dts[int(np.searchsorted(self.keyframes, keyframe))])

    def picture_at(self, pts: int) -> int | None:
        """Position of the picture with exactly this timestamp, None when there is none."""
        pos = int(np.searchsorted(self.pts, pts))
        return pos if pos < len(self.pts) and self.pts[pos] == pts else None


log = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[tuple[str, int, int], FrameIndex] = {}
_building: dict[tuple[str, int, int], threading.Lock] = {}


def frame_index(path: str) -> FrameIndex:
    """The index of `path`'s first video stream, demuxed once per file version."""
    path = os.path.abspath(path)
    try:
        key = (path, *disc.size_and_mtime(path))
    except OSError as exc:
        raise MediaError(f"{path} does not exist") from exc
    with _lock:
        if key in _cache:
            return _cache[key]
        build_lock = _building.setdefault(key, threading.Lock())
    # Other files stay available while this one is demuxed; a second thread asking for the
    # same file waits here and then finds it cached.
    with build_lock:
        with _lock:
            if key in _cache:
                return _cache[key]
        index = _build(path)
        with _lock:
            _cache[key] = index
            _building.pop(key, None)
    return index


def _build(path: str) -> FrameIndex:
    container, stream = open_video(path)
    try:
        for other in container.streams:
            if other.index != stream.index:
                other.discard = Discard.all  # demux only the video packets
        pts: list[int] = []
        keys: dict[int, int] = {}  # keyframe pts -> its decode timestamp
        last_pts, last_duration = None, 0
        truncated = False  # the last packet was cut short (the file ends inside it)
        # The packets of the last two GOPs, in decode order, where the end is not framed.
        gops: list[list[av.Packet]] = [[], []]
        unframed = container.format.name in _UNFRAMED
        try:
            for packet in container.demux(stream):
                # Empty packets only flush the decoder; discarded ones are never shown.
                if packet.size == 0 or packet.is_discard:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    continue
                pts.append(ts)
                truncated = packet.is_corrupt
                if unframed and (packet.is_keyframe or gops[1]):
                    if packet.is_keyframe:
                        gops = [gops[1], []]
                    gops[1].append(packet)
                    # Intra refresh (no keyframes after the first) would keep the whole file.
                    unframed = len(gops[1]) <= _MAX_GOP
                if packet.is_keyframe:
                    keys.setdefault(ts, packet.dts if packet.dts is not None else ts)
                if last_pts is None or ts > last_pts:
                    last_pts, last_duration = ts, packet.duration or 0
        except av.FFmpegError as exc:
            # A damaged tail still leaves the pictures before it usable.
            if not pts:
                raise MediaError(f"{path} could not be read ({exc.strerror})") from exc
        if truncated and len(pts) > 1:
            # A file cut off inside a picture (DV, MJPEG in AVI): that picture is lost.
            log.warning("%s ends inside a picture (cut off?): it is left out", path)
            pts.pop()
        if not pts:
            raise MediaError(f"{path} has no frames: its video stream is empty")
        order = np.unique(np.asarray(pts, dtype=np.int64))
        if keys:  # the first keyframe met, in decode order
            order = _from_first_keyframe(path, order, next(iter(keys)))
        if unframed and gops[1]:
            order = _without_damaged_tail(path, order, stream, *gops)
        order = _without_cut_off_tail(path, order)
        key_pts = np.unique(np.asarray(list(keys), dtype=np.int64))
        key_pts = key_pts[key_pts <= order[-1]]
        keyframes = np.searchsorted(order, key_pts)
        key_dts = np.asarray([keys[int(t)] for t in key_pts], dtype=np.int64)
        if not len(keyframes):
            # Some containers flag nothing; then every seek starts decoding at the beginning.
            keyframes = np.zeros(1, dtype=np.int64)
            key_dts = order[:1].copy()
        time_base = stream.time_base or Fraction(1, 90000)
        step = _frame_step(order, last_duration, stream, time_base)
        return FrameIndex(
            time_base=time_base,
            pts=order,
            keyframes=keyframes.astype(np.int64),
            end_pts=int(order[-1]) + step,
            key_dts=key_dts,
        )
    finally:
        container.close()


def _from_first_keyframe(path: str, order: np.ndarray, first_key: int) -> np.ndarray:
    """`order` from the first keyframe on: a stream that starts mid-GOP (a broadcast recording,
    a DVD title's second VOB taken alone) starts with pictures whose references are not in the
    file, which no decoder can make."""
    keep = order[order >= first_key]
    if len(keep) < len(order):
        log.warning("%s starts in the middle of a group of pictures (a recording, or a piece "
                    "of a longer one?): its first %d picture(s) cannot be decoded and are left "
                    "out", path, len(order) - len(keep))  # fmt: skip
    return keep


# Containers that do not say where a picture ends (MPEG program and transport streams, raw
# elementary streams): one cut off mid-picture hands its last packet over short, unflagged.
_UNFRAMED = frozenset({"mpeg", "mpegts", "mpegvideo", "h264", "hevc"})
_MAX_GOP = 600  # packets: 10 s of 60i fields coded apart


def _without_damaged_tail(
    path: str, order: np.ndarray, stream: VideoStream, before: list[av.Packet],
    last: list[av.Packet],
) -> np.ndarray:
    """`order` without the pictures of the last GOP (`last`'s packets, from its keyframe on)
    that a decoder cannot make whole: a cut-off file's last picture, and those that need it.
    The GOP `before` it is decoded too, for the last one's leading pictures to refer to."""
    decoder = av.CodecContext.create(stream.codec_context.name, "r")
    decoder.extradata = stream.codec_context.extradata
    made: set[int] = set()
    for packet in [*before, *last, None]:
        try:
            frames = decoder.decode(packet)
        except av.FFmpegError:
            continue
        made.update(f.pts for f in frames if f.pts is not None and not f.is_corrupt)
    judged = [p.pts if p.pts is not None else p.dts for p in last]
    lost = np.isin(order, judged) & ~np.isin(order, list(made))
    if not lost.any() or not made:
        return order  # nothing lost, or a decoder that does not say: keep what the file says
    log.warning("%s ends in a damaged picture (cut off?): %d picture(s) near its end are "
                "left out", path, int(lost.sum()))  # fmt: skip
    return order[~lost]


# A file cut off mid-GOP ends with reference pictures whose B-pictures (shown before them) never
# arrived: a gap of more than this many steps among the last _TAIL pictures.
_GAP = 1.5
_TAIL = 3


def _without_cut_off_tail(path: str, order: np.ndarray) -> np.ndarray:
    """`order` without the pictures after a gap at its very end, which a cut-off GOP leaves
    (the last of them is usually cut short too); the rest of the file stays usable."""
    if len(order) < 2 * _TAIL + 2:
        return order
    steps = np.diff(order)
    usual = float(np.median(steps))
    tail = steps[-_TAIL:]
    gaps = np.flatnonzero(tail > _GAP * usual)
    if not len(gaps) or float(np.ptp(steps[:-_TAIL])) > 0.1 * usual:
        return order  # no gap, or variable-rate video where gaps are normal
    keep = len(order) - _TAIL + int(gaps[0])
    log.warning("%s ends in the middle of a group of pictures (cut off?): its last %d "
                "picture(s) are left out", path, len(order) - keep)  # fmt: skip
    return order[:keep]


def _frame_step(
    order: np.ndarray, last_duration: int, stream: VideoStream, time_base: Fraction
) -> int:
    """How long the last picture is shown, in time_base units.

    The spacing before it is preferred: containers often state a nominal duration (Matroska's
    default duration) that is wrong for variable-rate video.
    """
    if len(order) > 1:
        return int(order[-1] - order[-2])
    if last_duration > 0:
        return last_duration
    rate = stream.average_rate or stream.base_rate or Fraction(25)
    return max(1, round(1 / (rate * time_base)))
