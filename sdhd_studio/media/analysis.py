"""What a source is (progressive, interlaced, telecined; which colours), judged from a sample.

Flags are often wrong both ways (progressive film flagged interlaced, interlaced captures
flagged progressive), so the scan type comes from the pictures: combing in moving parts of a
frame, and which field order makes the fields' motion smooth. Only a few short runs of
frames are decoded, so an hour of video takes about as long as a minute.
"""

from __future__ import annotations

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from sdhd_studio.core.errors import FrameDecodeError
from sdhd_studio.core.source import Analysis, VideoInfo
from sdhd_studio.media.combing import comb_score
from sdhd_studio.media.container import open_video
from sdhd_studio.media.reader import FrameReader

RUNS = 6  # places in the file looked at
RUN_LENGTH = 11  # consecutive pictures at each (two telecine cadences and a frame)
# A pixel moves when it changes by more than this (0-255) from the previous picture; a frame
# with fewer than MIN_MOVING of its pixels moving cannot show combing and is left out.
_MOTION = 8.0
_MIN_MOVING = 0.005
# Comb scores above this are combed frames (log2 of inter-field over intra-field detail).
_COMBED = 0.0
# Field orders whose errors differ by less than this (log ratio, median over moving pairs)
# cannot be told apart: the flags decide. A run says an order firmly beyond _FIRM_ORDER.
_ORDER_MARGIN = 0.05
_FIRM_ORDER = 0.15

_FIRST_PACKETS = 120  # packets tried for a first picture to read colour tags from
# AVFieldOrder: 1 progressive, 2 top first, 3 bottom first, 4/5 top/bottom coded first.
_FLAGGED_ORDER = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}
# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic codes that carry a meaning.
_MATRICES = {1: "bt709", 4: "bt601", 5: "bt601", 6: "bt601", 7: "bt709"}
_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte170m", 9: "bt2020"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 8: "linear", 13: "srgb"}


def analyse(path: str, info: VideoInfo) -> Analysis:
    """Scan type, field order, cadence and colour of `path` from a bounded sample."""
    flagged, colour = _stream_facts(path, info)
    combs: list[float] = []
    pattern_runs: list[list[bool | None]] = []
    leanings: list[list[float]] = []  # per run, per moving pair: log(tff error / bff error)
    with FrameReader(path, info, cache_size=2) as reader:
        for start in _run_starts(info.frame_count):
            grays = [_gray_or_none(reader, i) for i in range(start, start + RUN_LENGTH)
                     if i < info.frame_count]  # fmt: skip
            run: list[bool | None] = []  # combed?, None where nothing moved (or unreadable)
            leaning: list[float] = []
            for prev, cur in zip(grays, grays[1:], strict=False):
                if prev is None or cur is None:
                    run.append(None)
                    continue
                moving = np.abs(cur - prev) > _MOTION
                if moving.mean() < _MIN_MOVING:
                    run.append(None)
                    continue
                score = comb_score(cur, moving)
                combs.append(score)
                run.append(score > _COMBED)
                t, b = _field_errors(prev, cur)
                leaning.append(float(np.log((t + 0.01) / (b + 0.01))))
            pattern_runs.append(run)
            leanings.append(leaning)
    scan, cadence = _scan_type(pattern_runs)
    order = "progressive" if scan == "progressive" else _field_order(leanings, flagged)
    return Analysis(
        scan=scan,
        field_order=order,
        flagged_order=flagged,
        cadence=cadence,
        comb=round(float(np.mean(combs)), 3) if combs else 0.0,
        sampled=len(combs),
        **colour,
    )


def _gray_or_none(reader: FrameReader, index: int) -> np.ndarray | None:
    """A picture's luma; None when it is damaged (reported when that frame is read)."""
    try:
        rgb = reader.read(index)
    except FrameDecodeError:
        return None
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _field_order(leanings: list[list[float]], flagged: str) -> str:
    """tff or bff as the fields' motion says (the median over moving pairs, so a scene cut
    inside a run does not sway it); `changes` when some runs say one firmly and others the
    other (material captured both ways, edited together); the flags if it cannot tell."""
    firm = {_order_of(run, _FIRM_ORDER) for run in leanings if len(run) >= 4} - {""}
    if len(firm) > 1:
        return "changes"
    every = [x for run in leanings for x in run]
    return _order_of(every, _ORDER_MARGIN) or (flagged if flagged in ("tff", "bff") else "tff")


def _order_of(leaning: list[float], margin: float) -> str:
    if not leaning:
        return ""
    middle = float(np.median(leaning))
    return "" if abs(middle) <= margin else "tff" if middle < 0 else "bff"


def _run_starts(count: int) -> list[int]:
    if count <= RUNS * RUN_LENGTH:
        return list(range(0, count, RUN_LENGTH))
    step = (count - RUN_LENGTH) / (RUNS - 1)
    return [round(i * step) for i in range(RUNS)]


def _field_errors(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """How far each field order is from smooth motion over two pictures.

    Top first, the bottom field lies in time between its own top field and the next one's;
    bottom first, the top field lies between the two bottom fields. Bottom fields are first
    brought to the top field's lines (half a line up), so vertical motion favours neither.
    """
    rows = min(prev.shape[0], cur.shape[0]) // 2 * 2
    t0, t1 = prev[2:rows:2], cur[2:rows:2]
    b0 = (prev[1 : rows - 2 : 2] + prev[3:rows:2]) / 2
    b1 = (cur[1 : rows - 2 : 2] + cur[3:rows:2]) / 2
    tff = float(np.abs(b0 - (t0 + t1) / 2).mean())
    bff = float(np.abs(t0 - (b0 + b1) / 2).mean())
    return tff, bff


def _scan_type(runs: list[list[bool | None]]) -> tuple[str, str]:
    """Interlaced video combs whenever things move fast enough, 3:2 telecine two pictures in
    every five (the same two each time); slow motion combs in neither, so clean runs say
    nothing against them."""
    kinds = {kind for kind in map(_run_kind, runs) if kind}
    if "telecined" in kinds:
        return ("mixed" if "combed" in kinds else "telecined"), "3:2"
    return ("interlaced" if "combed" in kinds else "progressive"), ""


def _run_kind(run: list[bool | None]) -> str:
    combed = [c for c in run if c is not None]
    if len(combed) < 4 or sum(combed) < 0.15 * len(combed):
        return ""
    share = sum(combed) / len(combed)
    pairs = [(a, b) for a, b in zip(run, run[5:], strict=False) if a is not None and b is not None]
    if not 0.2 <= share <= 0.6:
        return "combed"
    if len(pairs) < 3:
        return ""  # too short to see a cadence
    # A combed picture with little motion may look clean: one miss is allowed.
    misses = sum(a != b for a, b in pairs)
    return "telecined" if misses <= 1 else "combed"


def _stream_facts(path: str, info: VideoInfo) -> tuple[str, dict[str, object]]:
    """The flagged field order, and the colour facts (tags, else the standard for the size)."""
    container, stream = open_video(path)
    try:
        flagged = _FLAGGED_ORDER.get(int(stream.codec_context.field_order or 0), "unknown")
        frame = _first_frame(container, stream)
    finally:
        container.close()
    lines = max(info.height, info.width) if info.rotation in (90, 270) else info.height
    hd = lines > 576
    system = "bt709" if hd else "bt470bg" if lines > 480 or info.fps == 25 else "smpte170m"
    matrix = _MATRICES.get(frame.colorspace) if frame is not None else None
    primaries = _PRIMARIES.get(frame.color_primaries) if frame is not None else None
    transfer = _TRANSFERS.get(frame.color_trc) if frame is not None else None
    full = info.pix_fmt.startswith("yuvj") or (frame is not None and frame.color_range == 2)
    return flagged, {
        "matrix": matrix or ("bt709" if hd else "bt601"),
        "full_range": bool(full),
        "primaries": primaries or system,
        "transfer": transfer or ("bt709" if hd else "smpte170m"),
        "colour_tagged": matrix is not None,
    }


def _first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame | None:
    try:
        for n, packet in enumerate(container.demux(stream)):
            if n >= _FIRST_PACKETS:
                break
            for frame in packet.decode():
                return frame
    except av.FFmpegError:
        pass  # a damaged start: the size decides the colours
    return None
