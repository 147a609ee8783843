"""In-between frames without weights (the `dis` interpolator), and the shot structure it obeys:
held frames and scene cuts.

How a frame at time t in (0, 1) between pictures A and B is made:

1. DIS flow both ways (A->B, B->A), once per pair, on copies at `flow.coarse_size`, and each
   pixel's forward-backward consistency: a pixel of A that has no match in B (about to be
   covered, or leaving the picture) fails the round trip, and vice versa.
2. The flow of such an occluded pixel is garbage (DIS smears its neighbours' motion into it).
   It takes the flow of the most similar-looking matched pixel nearby instead, so a background
   pixel follows the background, not the object sliding over it; then the 5x5 median of the
   filled field, so that neighbours agree on one layer (each picking its own tore fast edges
   into speckles and blobs).
3. The motion AT TIME t, on the grid of the frame being made, which a backward warp needs: for
   each target pixel x, the pixel p of A that arrives there (p + t*F(p) = x), found by
   fixed-point iteration, and likewise for B. The usual shortcut, F_t->0 ~ -t*F(x), reads the
   flow of whatever was at x in A: wrong along every moving edge, where it drags background
   over the object's new place. Where two layers arrive at x (an object covering background),
   the one whose pixels match in the other picture is the one in front. (A forward splat finds
   the same; on this job the fixed point measured as good and cheaper.)
4. A and B are warped backward to time t along those motions and blended by temporal distance,
   each picture's weight lowered where it does not show the spot: no pixel of it arrives there
   (the region the other uncovers), or the other picture's pixels that do have no match in it.

Held frames (the same picture again: animation on twos, freeze frames, duplicates) give exact
copies of A, and so does a pair across a scene cut: a frame rate conversion repeats the last
frame of a shot rather than morphing one shot into the next.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml import flow
from sdhd_studio.ml.registry import BackendSpec, register

THUMB_WIDTH = 128  # shot analysis works on pictures this wide: cheap, and blind to grain
# Held: mean and largest absolute grey difference between the thumbnails. Duplicated frames of
# Big Buck Bunny (24 -> 25 fps) measure 0.02-0.04 / 3-4; the stillest real motion 0.2 / 12.
HELD_MEAN, HELD_MAX = 0.5, 8.0
# Cut: the motion-compensated structure similarity (SSIM's structure term, local windows) of the
# thumbnails falls below CUT_STRUCTURE AND their HSV histograms differ by more than CUT_COLOUR
# (Bhattacharyya). Measured (structure / colour): bikes.mp4's 5 cuts and Big Buck Bunny joined
# to bikes 0.19-0.42 / 0.41-0.85; motion within a shot (bikes.mp4 at 1/1 to 1/3 of its rate,
# BBB at up to 1/8) >= 0.58 / <= 0.21, never both past the line; flashes and fades (x0.6 to x2,
# +-40 grey levels) >= 0.78 / up to 0.65. Structure alone would take failed flow (blur, wild
# motion) for a cut, colour alone a flash or a lamp switched on.
CUT_STRUCTURE, CUT_COLOUR = 0.6, 0.2

# ULTRAFAST at the coarse size. MEDIUM measured +0.15 dB on Big Buck Bunny (about +1 dB around
# synthetic moving objects) for three times the flow time; ULTRAFAST is what keeps a made 720p
# frame at a fifth of ffmpeg's minterpolate time.
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST
OCCLUDED = 0.5  # consistency below this: the pixel has no match in the other picture
# Where an occluded pixel looks for a matched one: 8 directions, 1 to 16 pixels away.
_SEARCH = np.array([
    (dx * d, dy * d, d)
    for d in (1, 2, 4, 8, 16)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))
])[:, :, None]
_SIMILAR = 30.0  # most a lookalike may differ: summed over R, G, B, distance cost included
_SEARCH_DISTANCE_COST = 0.5  # grey levels per pixel of distance: the nearer of two lookalikes
_ITERATIONS = 3  # of the fixed point that finds which pixel arrives where (more: no better)
ARRIVAL = 0.5  # pixels (flow size): a source landing farther from the target does not reach it
# Added to a picture's visibility (0 to 1) in its blend weight. Visibility is itself a guess
# from coarse flow: taking a spot from one picture alone wherever it says so (0.02) measured
# -0.1 dB on Big Buck Bunny and -0.4 dB around synthetic moving objects against this; plain
# temporal weights (no visibility) the same on the clip and -0.16 dB on the objects.
_LONE_WEIGHT = 0.5


@dataclass(frozen=True)
class _Thumb:
    grey: np.ndarray
    hist: np.ndarray  # hue x saturation


def is_held(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `b` shows the same picture as `a` (a repeat, up to re-encoding noise)."""
    return _held(_thumb(a), _thumb(b))


def is_cut(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` and `b` belong to different shots."""
    return _cut(_thumb(a), _thumb(b))


def find_cuts(frames: Iterable[np.ndarray]) -> list[int]:
    """Indices i where a new shot starts (a cut between frames i-1 and i), reading once."""
    cuts, previous = [], None
    for index, frame in enumerate(frames):
        current = _thumb(frame)
        if previous is not None and _cut(previous, current):
            cuts.append(index)
        previous = current
    return cuts


class DisInterpolator:
    """Bidirectional, occlusion-aware warping along DIS optical flow (see the module doc)."""

    def interpolate(
        self, a: np.ndarray, b: np.ndarray, times: Sequence[float], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        if a.shape != b.shape:
            raise ValueError(f"pictures differ in size: {a.shape} and {b.shape}")
        if not times:
            return []
        cancel.check()
        height, width = a.shape[:2]
        coarse = flow.coarse_size((width, height), float(settings.get("flow_scale", 0.5)))
        planes_a, planes_b = _Planes(a, coarse, "a"), _Planes(b, coarse, "b")
        if _held(planes_a.thumb, planes_b.thumb) or _cut(planes_a.thumb, planes_b.thumb):
            return [a.copy() for _ in times]
        motion = _Motion(planes_a, planes_b, cancel)
        frames = []
        for t in times:
            cancel.check()
            frames.append(motion.frame(float(t)))
        return frames


class _Motion:
    """The flows of one pair of pictures, made once and shared by all the times asked for."""

    def __init__(self, a: _Planes, b: _Planes, cancel: CancelToken) -> None:
        height, width = a.luma.shape
        coarse = a.small.shape[1], a.small.shape[0]
        forward = flow.estimate_coarse(a.small, b.small, FLOW_PRESET)
        cancel.check()
        backward = flow.estimate_coarse(b.small, a.small, FLOW_PRESET)
        cancel.check()
        self.c0 = flow.consistency(forward, backward)
        self.c1 = flow.consistency(backward, forward)
        # Velocities (per unit of time, from A towards B) of A's pixels and of B's.
        self.u0 = _fill_occluded(forward, self.c0, a.small)
        self.u1 = -_fill_occluded(backward, self.c1, b.small)
        self.a, self.b = a, b
        self.full = width, height
        self.places = {
            "luma": _placement(coarse, self.full),
            "chroma": _placement(coarse, a.chroma.shape[1::-1]),
        }

    def frame(self, t: float) -> np.ndarray:
        v0, cover0, match0 = _arrivals(self.u0, self.c0, t, self.u1, "a")
        v1, cover1, match1 = _arrivals(self.u1, self.c1, t - 1, self.u0, "b")
        # A shows the spot if its pixels arrive there and B's that arrive there match in A.
        w0 = (1 - t) * (cover0 * match1 + _LONE_WEIGHT)
        w1 = t * (cover1 * match0 + _LONE_WEIGHT)
        share0 = w0 / (w0 + w1)
        share1 = 1 - share0
        planes = []
        for part, sampling in (("luma", cv2.INTER_CUBIC), ("chroma", cv2.INTER_LINEAR)):
            place = self.places[part]
            size = width, height = place.size
            warped = []
            for source, velocity, dt in ((self.a, v0, -t), (self.b, v1, 1 - t)):
                # one map at a time
                at = place.positions(velocity, dt, _work(f"{part} map", height, width, 2))
                plane = getattr(source, part)
                channels = plane.shape[2] if plane.ndim == 3 else 1
                warped.append(cv2.remap(
                    plane, at, None, sampling, borderMode=cv2.BORDER_REPLICATE,
                    dst=_work(f"{part} {len(warped)}", height, width, channels),
                ))
            weights = [cv2.resize(share, size, dst=_work(f"{part} w{i}", height, width))
                       for i, share in enumerate((share0, share1))]
            planes.append(cv2.blendLinear(*warped, *weights, dst=warped[0]))
        luma, chroma = planes
        width, height = self.full
        ycc = cv2.resize(chroma, self.full, dst=_work("ycc", height, width, 3),
                         interpolation=cv2.INTER_LINEAR)
        cv2.insertChannel(luma, ycc, 0)
        rgb = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB, dst=_work("rgb", height, width, 3))
        return cv2.add(rgb, 0.0, dtype=cv2.CV_8U)  # rounded, saturated: the caller's own


class _Placement:
    """Sampling positions on a grid of `size` for a motion field of the coarse grid, in one
    resize: the coarse pixel centres as placed on the fine grid, plus the motion scaled to it,
    bilinearly upsampled (adding the fine grid after upsampling costs a pass over a frame-sized
    array). cv2.resize holds the outermost coarse values beyond the outermost centres, which
    puts the outermost fine pixels up to half a coarse pixel off; they are put back."""

    def __init__(self, coarse: tuple[int, int], size: tuple[int, int]) -> None:
        self.size = size
        self.scale = np.float32([size[0] / coarse[0], size[1] / coarse[1]])
        # cv2.resize's convention: fine x samples coarse (x + 0.5) / scale - 0.5.
        self.centres = flow.grid(*coarse) * self.scale + (self.scale - 1) / 2
        error = flow.grid(*size) - cv2.resize(self.centres, size)  # 0 but at the edges
        self.fixes = []
        for axis in (0, 1):
            along = error[0, :, 0] if axis == 0 else error[:, 0, 1]
            wrong = np.nonzero(np.abs(along) > 1e-3)[0]
            for edge in (wrong[wrong < len(along) // 2], wrong[wrong >= len(along) // 2]):
                if len(edge):
                    band = slice(edge.min(), edge.max() + 1)
                    where = (slice(None), band, 0) if axis == 0 else (band, slice(None), 1)
                    fix = along[band] if axis == 0 else along[band, None]
                    self.fixes.append((where, fix))

    def positions(self, velocity: np.ndarray, dt: float, out: np.ndarray) -> np.ndarray:
        """Where each fine pixel samples when moved by `dt` * `velocity` (coarse pixels)."""
        cv2.resize(cv2.scaleAdd(velocity * self.scale, dt, self.centres), self.size, dst=out)
        for where, fix in self.fixes:
            out[where] += fix
        return out


@functools.lru_cache(maxsize=8)
def _placement(coarse: tuple[int, int], size: tuple[int, int]) -> _Placement:
    return _Placement(coarse, size)  # a frame-sized pass to make: made once per size


class _Planes:
    """A picture as video codecs keep it: luma at full size, chroma at half size each way, in
    float32 (a warp rounded to 8 bits, then converted back to RGB and rounded again, adds a
    visible floor of noise to still areas; float cubic remaps are no slower).

    The warp is most of the interpolator's time, and the eye (and the 4:2:0 of nearly every
    video, including what we export) does not see chroma detail: sampling chroma at a quarter
    of the pixels, bilinearly, leaves the cubic warp for the luma and halves the work."""

    def __init__(self, rgb: np.ndarray, coarse: tuple[int, int], role: str) -> None:
        """`coarse`: the size of `small`, the RGB copy the flow is estimated on. `role` names
        its work arrays (the two pictures of a pair need their own)."""
        height, width = rgb.shape[:2]
        # The Y of YCrCb, in float: two weighted sums of the planes cost half a conversion of
        # the whole picture to float.
        red, green, blue = cv2.split(rgb)
        self.luma = _work(f"luma {role}", height, width)
        cv2.addWeighted(red, 0.299, green, 0.587, 0, dst=self.luma, dtype=cv2.CV_32F)
        cv2.addWeighted(self.luma, 1, blue, 0.114, 0, dst=self.luma, dtype=cv2.CV_32F)
        half = cv2.resize(rgb, ((width + 1) // 2, (height + 1) // 2),
                          interpolation=cv2.INTER_AREA)
        size = half.shape[:2]
        wide = cv2.add(half, 0.0, dst=_work("half rgb", *size, 3), dtype=cv2.CV_32F)
        # All three channels: the half-size Y is never used, but copying Cr and Cb out would
        # cost more than warping it along.
        self.chroma = cv2.cvtColor(wide, cv2.COLOR_RGB2YCrCb,
                                   dst=_work(f"chroma {role}", *size, 3))
        # From the half-size copy: area averaging twice is averaging once, for less work.
        self.small = cv2.resize(half, coarse, interpolation=cv2.INTER_AREA)
        self.thumb = _thumb(half)


_scratch = threading.local()


def _work(name: str, height: int, width: int, channels: int = 1) -> np.ndarray:
    """A float32 work array of this thread, reused from call to call. A fresh frame-sized array
    comes from the OS a page at a time: at 720p that was 5,300 page faults and ~20 ms of system
    time per made frame, as much as the warps. The price: the largest frame's worth (~70 MB at
    720p) stays with each thread that interpolates."""
    arrays = _scratch.__dict__.setdefault("arrays", {})
    shape = (height, width, channels) if channels > 1 else (height, width)
    if name not in arrays or arrays[name].shape != shape:
        arrays[name] = np.empty(shape, np.float32)
    return arrays[name]


def _arrivals(
    velocity: np.ndarray, confidence: np.ndarray, t: float, other: np.ndarray, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which pixels of a picture are where at time `t` (its own time is 0; `velocity` is its
    pixels' motion per unit of time). Per target pixel x: the velocity of the pixel p that
    arrives there (p + t*velocity(p) = x), how surely one does (1: exactly; 0: none comes
    within ARRIVAL pixels), and that pixel's consistency. `role` names the work arrays the
    answer lives in (until the next call with that role).

    p is found by fixed-point iteration, p <- x - t*velocity(p), from two starts: the picture's
    own motion at x and the `other` picture's. Along a moving edge the two start on different
    layers; where both converge (one layer slides over the other) the more consistent source
    wins, which is the layer in front: the one covered has no match in the other picture."""
    height, width = confidence.shape
    grid = flow.grid(width, height)
    twice = _grid_twice(width, height)
    # Both starts in one array, one above the other: one remap call serves both.
    source = _work(f"{role} source", 2 * height, width, 2)
    moved = _work(f"{role} moved", 2 * height, width, 2)
    cv2.scaleAdd(velocity, -t, grid, dst=source[:height])
    cv2.scaleAdd(other, -t, grid, dst=source[height:])
    for _ in range(_ITERATIONS):
        cv2.scaleAdd(_sample(velocity, source, moved), -t, twice, dst=source)
    _sample(velocity, source, moved)
    match = _sample(confidence, source, _work(f"{role} match", 2 * height, width))
    miss = cv2.subtract(cv2.scaleAdd(moved, t, source, dst=source), twice, dst=source)
    cover = _work(f"{role} cover", 2 * height, width)
    np.hypot(miss[..., 0], miss[..., 1], out=cover)
    np.clip(1 - cover / ARRIVAL, 0, 1, out=cover)
    first = moved[:height], cover[:height], match[:height]
    better = cover[height:] * (match[height:] + 1e-3) > first[1] * (first[2] + 1e-3)
    np.copyto(first[0], moved[height:], where=better[..., None])
    np.copyto(first[1], cover[height:], where=better)
    np.copyto(first[2], match[height:], where=better)
    return first


def _sample(field: np.ndarray, at: np.ndarray, out: np.ndarray) -> np.ndarray:
    return cv2.remap(field, at, None, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_REPLICATE)


def _fill_occluded(motion: np.ndarray, confidence: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """`motion` with each occluded pixel's vector replaced by that of the most similar-looking
    matched pixel among a few nearby (`_SEARCH`); unchanged where none is matched."""
    ys, xs = np.nonzero(confidence < OCCLUDED)
    if len(ys) == 0:
        return motion
    height, width = confidence.shape
    qx, qy, distance = xs + _SEARCH[:, 0], ys + _SEARCH[:, 1], _SEARCH[:, 2]  # (candidates, n)
    inside = (qx >= 0) & (qx < width) & (qy >= 0) & (qy < height)
    where = np.clip(qy, 0, height - 1) * width + np.clip(qx, 0, width - 1)
    own = ys * width + xs
    cost = _SEARCH_DISTANCE_COST * distance.astype(np.float32)
    blurred = cv2.GaussianBlur(rgb, (0, 0), 1.0)  # texture averaged out: the region's colour
    for channel in cv2.split(blurred):  # one plane at a time: gathers are much faster
        plane = channel.ravel().astype(np.float32)
        cost = cost + np.abs(plane[where] - plane[own])
    # Only a lookalike will do: where a whole object failed to match (flow lost on fast motion)
    # its nearest matched pixels are the background's, and their motion is not its motion.
    cost[~inside | (confidence.ravel()[where] < OCCLUDED) | (cost > _SIMILAR)] = np.inf
    best = cost.argmin(axis=0)
    found = np.isfinite(cost[best, np.arange(len(own))])
    out = motion.reshape(-1, 2).copy()
    out[own[found]] = out[where[best[found], np.nonzero(found)[0]]]
    out = out.reshape(motion.shape)
    # Each occluded pixel picks its lookalike on its own, so neighbours along a fast edge take
    # vectors of different layers: torn, scalloped edges and speckles in the made frame
    # (bikes.mp4's taxi sign). The 5x5 median of the filled field makes them agree.
    median = cv2.merge([cv2.medianBlur(np.ascontiguousarray(out[..., i]), 5) for i in (0, 1)])
    np.copyto(out, median, where=(confidence < OCCLUDED)[..., None])
    return out


@functools.lru_cache(maxsize=4)
def _grid_twice(width: int, height: int) -> np.ndarray:
    twice = np.vstack([flow.grid(width, height)] * 2)
    twice.setflags(write=False)
    return twice


def _thumb(image: np.ndarray) -> _Thumb:
    height, width = image.shape[:2]
    size = (min(width, THUMB_WIDTH), max(1, round(height * min(width, THUMB_WIDTH) / width)))
    rgb = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    cv2.normalize(hist, hist, 1, 0, cv2.NORM_L1)
    return _Thumb(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), hist)


def _held(a: _Thumb, b: _Thumb) -> bool:
    diff = cv2.absdiff(a.grey, b.grey)
    return float(diff.mean()) < HELD_MEAN and float(diff.max()) < HELD_MAX


def _cut(a: _Thumb, b: _Thumb) -> bool:
    if cv2.compareHist(a.hist, b.hist, cv2.HISTCMP_BHATTACHARYYA) <= CUT_COLOUR:
        return False
    # How well B, moved along the flow, predicts A's structure. SSIM's structure term ignores
    # brightness and contrast, so a flash or a fade does not count against it.
    motion = flow.estimate_coarse(a.grey, b.grey)
    x = a.grey.astype(np.float32)
    y = flow.warp(b.grey, motion).astype(np.float32)

    def local(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), 4.0)

    mx, my = local(x), local(y)
    vx, vy, cov = local(x * x) - mx * mx, local(y * y) - my * my, local(x * y) - mx * my
    c = (0.03 * 255) ** 2
    return float(((2 * cov + c) / (vx + vy + c)).mean()) < CUT_STRUCTURE


register(BackendSpec(
    "dis", "interpolate", "2", frozenset({"flow_scale"}), lambda runtime: DisInterpolator(),
    description="optical flow (OpenCV DIS) both ways, occlusion-aware warping; no weights; "
    "repeats the frame across scene cuts and held frames",
))
