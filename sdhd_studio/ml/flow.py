"""Dense optical flow (OpenCV DIS) and the warps built on it: the motion engine's primitives.

A flow field `f` from picture A to picture B is an (H, W, 2) float32 array of pixel offsets:
the content at A's pixel (x, y) is found in B at (x + f[y, x, 0], y + f[y, x, 1]). Flow is
estimated on a smaller copy of the pictures when `scale` < 1 and then upsampled (offsets
multiplied back), which is what makes HD frames affordable.

DIS's medium preset stops refining at half the size it is given (its finest pyramid level is 1)
and upsamples from there. So the motion is really resolved at `coarse_size`: half of `scale`.
Estimating there directly (finest level 0) gives the same field for less work, and callers
that want to post-process it (the interpolator) can do so at that size.
"""

from __future__ import annotations

import functools
import threading

import cv2
import numpy as np

MIN_SIDE = 16  # DIS needs a few patches; smaller estimates are not worth making


def estimate(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Flow from `a` to `b` (RGB uint8 or gray, same size) at full resolution."""
    height, width = a.shape[:2]
    size = coarse_size((width, height), scale)
    ga, gb = gray(a), gray(b)
    if size != (width, height):
        ga = cv2.resize(ga, size, interpolation=cv2.INTER_AREA)
        gb = cv2.resize(gb, size, interpolation=cv2.INTER_AREA)
    return resize_flow(estimate_coarse(ga, gb), (width, height))


def coarse_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (width, height) at which `estimate(..., scale)` resolves the motion of pictures of
    `size`: half of `scale`, at least MIN_SIDE a side."""
    width, height = size
    return max(MIN_SIDE, round(width * scale / 2)), max(MIN_SIDE, round(height * scale / 2))


def estimate_coarse(
    a: np.ndarray, b: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
) -> np.ndarray:
    """Flow from `a` to `b` at their own size: pictures already brought to `coarse_size`.
    `preset`: one of OpenCV's DIS presets (ULTRAFAST skips the variational refinement)."""
    return _dis(preset).calc(gray(a), gray(b), None)


_per_thread = threading.local()


def _dis(preset: int) -> cv2.DISOpticalFlow:
    """This thread's DIS of `preset` (one may not be used by two threads at once). Kept: a new
    one allocates its buffers again on its first picture, ~1 ms of a 5 ms flow at 320x180."""
    kept = _per_thread.__dict__.setdefault("dis", {})
    if preset not in kept:
        kept[preset] = cv2.DISOpticalFlow_create(preset)
        kept[preset].setFinestScale(0)
    return kept[preset]


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Backward warp: out[y, x] = image at (x, y) + flow[y, x], bilinear. `flow` may be smaller
    or larger than `image` (it is resized and its offsets scaled to match)."""
    height, width = image.shape[:2]
    at = grid(width, height) + resize_flow(flow, (width, height))
    return cv2.remap(image, at, None, cv2.INTER_LINEAR, borderMode=border)


@functools.lru_cache(maxsize=8)
def grid(width: int, height: int) -> np.ndarray:
    """Each pixel's own (x, y), (height, width, 2) float32: what a flow is added to for a remap.
    Kept, read-only, for the few sizes in use: building it costs as much as a warp."""
    out = np.empty((height, width, 2), np.float32)
    out[..., 0] = np.arange(width, dtype=np.float32)
    out[..., 1] = np.arange(height, dtype=np.float32)[:, None]
    out.setflags(write=False)
    return out


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`flow` brought to `size` = (width, height), offsets scaled with it."""
    height, width = flow.shape[:2]
    if (width, height) == size:
        return flow
    out = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / width
    out[..., 1] *= size[1] / height
    return out


def consistency(forward: np.ndarray, backward: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """Per-pixel confidence in [0, 1] of `forward` (A->B) from the forward-backward check: a
    pixel of A that moves to B and back by `backward` (B->A) should land where it started.
    Where it does not (occlusion, a wrong match) the confidence falls towards 0."""
    back_at_target = warp(backward, forward)
    loop = forward + back_at_target
    error = cv2.magnitude(loop[..., 0], loop[..., 1])
    magnitude = (cv2.magnitude(forward[..., 0], forward[..., 1])
                 + cv2.magnitude(back_at_target[..., 0], back_at_target[..., 1]))
    limit = tolerance + 0.05 * magnitude  # fast motion earns a little slack
    return np.clip(1.0 - error / (2 * limit), 0.0, 1.0).astype(np.float32)


def gray(image: np.ndarray) -> np.ndarray:
    """`image` (RGB uint8, or already gray) as gray, as flow is estimated on it."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
