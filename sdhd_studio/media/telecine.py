"""Inverse telecine: which fields make each film frame of a 3:2 pulled-down source.

One pass over the file when the project is made (`telecine_map`) matches fields and decimates;
its result, a small encoded map, is stored with the project, so the reader can make film
frame N straight away after any seek (`decode_map`, `weave`).

Field matching keeps each picture's first field and pairs it with the other field of the same
picture (c), the one before (p) or the one after (n), whichever combs least. Decimation then
drops, in every cycle of five pictures, the match most like the one before it: the repeated
film frame. Both are local decisions, so a cadence broken by an edit recovers within a cycle.
A match that still combs (video shot at field rate, titles over film) is marked to be
deinterlaced instead.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import av
import numpy as np
from av.video.frame import VideoFrame

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.conditioning import DEINTERLACE, encode_map
from sdhd_studio.core.errors import MediaError
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.combing import comb_score
from sdhd_studio.media.container import open_video, use_threads

CYCLE = 5  # 3:2 pulldown: five pictures for four film frames
# Match codes: the other field from this picture, the one before, the one after; DEINTERLACE
# is added when even the best match combs.
MATCH_C, MATCH_P, MATCH_N = 0, 1, 2
_OFFSET = {MATCH_C: 0, MATCH_P: -1, MATCH_N: 1}
# Pixels that change by more than this between matches are moving; a match whose moving pixels
# comb more than _COMBED is video, not film.
_MOTION = 8.0
_COMBED = 0.0


def telecine_map(
    path: str, info: VideoInfo, order: str, cancel: CancelToken | None = None
) -> str:
    """Match and decimate every picture of `path` (`order`: tff/bff); the map, encoded.

    One pass holding three pictures at a time. `cancel.step(done, total)` counts the pictures
    matched (and stops the pass when cancelled)."""
    kept_parity = 0 if order == "tff" else 1
    stream_frames = info.conditioning.stream_frames or info.frame_count
    codes: list[int] = []
    diffs: list[float] = []
    previous = None  # the last match made
    before = current = None  # the pictures either side of the one after them
    with contextlib.closing(_grays(path)) as pictures:
        for after in itertools.chain(pictures, [None]):
            if current is not None:
                candidates = {MATCH_C: _weave_gray(current, current, kept_parity)}
                for code, other in ((MATCH_P, before), (MATCH_N, after)):
                    if other is not None:
                        candidates[code] = _weave_gray(current, other, kept_parity)
                code = min(candidates, key=lambda c: (_mismatch(candidates[c], kept_parity), c))
                matched = candidates[code]
                diff = np.inf
                if previous is not None:
                    moving = np.abs(matched - previous) > _MOTION
                    diff = _block_difference(matched, previous)
                    if moving.mean() > 0.002 and comb_score(matched, moving) > _COMBED:
                        code += DEINTERLACE
                codes.append(code)
                diffs.append(diff)
                previous = matched
                if cancel is not None:
                    cancel.step(len(codes), stream_frames)
            before, current = current, after
    if len(codes) != stream_frames:
        raise MediaError(
            f"{path} gave {len(codes)} pictures for {stream_frames} frames; inverse telecine "
            "needs a constant frame rate (use --ivtc off)"
        )
    kept = _decimate(np.array(diffs))
    return encode_map(kept, np.array(codes, dtype=np.int32)[kept])


def other_picture(picture: int, code: int, count: int) -> int:
    """The picture whose other field film frame (`picture`, `code`) takes."""
    return min(max(picture + _OFFSET[code % DEINTERLACE], 0), count - 1)


def weave(kept: VideoFrame, other: VideoFrame, order: str) -> VideoFrame:
    """`kept`'s first field (top for tff) with `other`'s second, plane by plane (interlaced
    chroma alternates lines between the fields too)."""
    parity = 0 if order == "tff" else 1
    woven = VideoFrame(kept.width, kept.height, kept.format.name)
    for out, a, b in zip(woven.planes, kept.planes, other.planes, strict=True):
        rows_a = np.frombuffer(a, np.uint8).reshape(a.height, a.line_size)[:, : out.line_size]
        rows_b = np.frombuffer(b, np.uint8).reshape(b.height, b.line_size)[:, : out.line_size]
        rows = rows_b.copy()
        rows[parity::2] = rows_a[parity::2]
        out.update(np.ascontiguousarray(rows).tobytes())
    woven.pts = kept.pts
    return woven


def _grays(path: str) -> Iterator[np.ndarray]:
    """Every picture's luma at half width (enough to see combing), in display order."""
    container, stream = open_video(path)
    use_threads(stream)
    read = 0
    try:
        for frame in container.decode(stream):
            read += 1
            yield frame.to_ndarray(format="gray")[:, ::2].astype(np.float32)
    except av.FFmpegError as exc:
        if not read:
            raise MediaError(f"{path} could not be read ({exc.strerror})") from exc
    finally:
        container.close()


def _weave_gray(kept: np.ndarray, other: np.ndarray, parity: int) -> np.ndarray:
    woven = other.copy()
    woven[parity::2] = kept[parity::2]
    return woven


def _mismatch(woven: np.ndarray, kept_parity: int) -> float:
    """How far the other field's lines are from midway between the kept field's lines around
    them: small when both fields show one moment."""
    first = 2 - kept_parity  # first line of the other field with kept lines on both sides
    other = woven[first:-1:2]
    around = (woven[first - 1 : -2 : 2] + woven[first + 1 :: 2][: len(other)]) / 2
    return float(np.abs(other[: len(around)] - around).mean())


def _block_difference(a: np.ndarray, b: np.ndarray, block: int = 16) -> float:
    """The largest mean difference over blocks: a repeated film frame differs by noise
    everywhere, a slow-moving new one clearly somewhere (as FFmpeg's decimate judges)."""
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    d = np.abs(a[:h, :w] - b[:h, :w]).reshape(h // block, block, w // block, block)
    return float(d.mean(axis=(1, 3)).max())


def _decimate(diffs: np.ndarray) -> np.ndarray:
    """Pictures kept: in each cycle of five, all but the one most like its predecessor (a
    shorter last cycle loses a picture only if it holds a repeat as clear as a full cycle's)."""
    drop = []
    full_cycles = len(diffs) // CYCLE
    for c in range(full_cycles):
        drop.append(c * CYCLE + int(np.argmin(diffs[c * CYCLE : (c + 1) * CYCLE])))
    tail = diffs[full_cycles * CYCLE :]
    if len(tail) and drop:
        typical = float(np.median([diffs[d] for d in drop]))
        if float(tail.min()) <= typical * 1.5 + 0.5:
            drop.append(full_cycles * CYCLE + int(np.argmin(tail)))
    keep = np.ones(len(diffs), dtype=bool)
    keep[drop] = False
    return np.flatnonzero(keep)
