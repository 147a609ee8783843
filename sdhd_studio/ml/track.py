"""Following picture content from frame to frame: how far a flow can be trusted, and masks
carried along by it.

The render layer carries a mask painted on one frame to the next, then the next, and stops
where `carry` says it lost track (confidence below `MIN_CONFIDENCE`).
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from sdhd_studio.ml import flow

# Mean absolute difference (grey levels, 0-255, over a small neighbourhood) between a picture
# and its neighbour warped onto it: up to MATCH_NOISE a match is certain (compression noise),
# from MATCH_TOLERANCE on it counts for nothing (two unrelated textures differ by more).
MATCH_NOISE = 4.0
MATCH_TOLERANCE = 20.0
MATCH_BLUR = 3.0  # px: one pixel can match by chance, a neighbourhood of unrelated ones cannot
# `carry`'s confidence below which a mask is not carried further. On the bundled sample a step
# within a shot scores 0.86-1.0, a cut to another shot or picture 0.27-0.32.
MIN_CONFIDENCE = 0.5
MIN_FIT_PIXELS = 32  # a part's inside smaller than this: its motion is fitted to all of it
MAX_FIT_PIXELS = 4000  # flow samples a part's motion is fitted to (plenty for 4 parameters)
REFINE_STEPS = 4
MIN_TEXTURE = 1.0  # mean squared gradient (grey levels / px) below which a part is too flat
ROBUST = 10.0  # grey levels: residuals beyond it count less in the refinement


def flow_confidence(
    a: np.ndarray, b: np.ndarray, forward: np.ndarray, backward: np.ndarray
) -> np.ndarray:
    """Per-pixel confidence in [0, 1] that `forward` (a->b) finds a's content in b.

    The forward-backward check catches occlusions and unstable matches; the photometric check
    (does b, warped by the flow, look like a?) catches what it cannot: two unrelated pictures
    can have a flow that is consistent both ways and matches nothing."""
    agree = flow.consistency(forward, backward)
    error = np.abs(flow.warp(b, forward).astype(np.float32) - a.astype(np.float32))
    if error.ndim == 3:
        error = error.mean(axis=2)
    return agree * _alike(cv2.GaussianBlur(error, (0, 0), MATCH_BLUR))


def trusted_flow(a: np.ndarray, b: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Flow from `a` to `b` (estimated at `scale`) and its per-pixel confidence."""
    forward = flow.estimate(a, b, scale)
    backward = flow.estimate(b, a, scale)
    return forward, flow_confidence(a, b, forward, backward)


def carry(mask: np.ndarray, a: np.ndarray, b: np.ndarray, flow_scale: float
          ) -> tuple[np.ndarray, float]:
    """The mask painted on picture `a` (uint8 0/255, a's size) moved onto picture `b`, and how
    sure that is, in [0, 1]: the share of the mask's pixels whose content is found again in b
    where the mask's motion puts them, lowered when the mask's area changed (a zoom by more than
    a few percent a frame is rare; a mask leaving the frame is losing what it marked). An empty
    mask carries to an empty one with confidence 0: there is nothing left to follow.

    Each connected part of the mask moves by a similarity (shift, rotation, zoom) fitted to the
    flow inside it, then refined on the pictures themselves: per-pixel flow smears across the
    part's edges, so a mask warped by it grows every frame. A binary mask cannot hold a
    sub-pixel position, so each step's motion is rounded to whole pixels up or down at random
    in proportion (seeded by the inputs: the same inputs give the same mask). Rounding to the
    nearest pixel would drop every motion below half a pixel a frame, leaving a slowly panned
    mask behind for good; this way the position is right on average and its error grows only
    as the square root of the number of steps."""
    height, width = mask.shape[:2]
    carried = np.zeros((height, width), np.uint8)
    if not mask.any():
        return carried, 0.0
    forward = flow.estimate(a, b, flow_scale)
    # Smoothed a little: Gauss-Newton steps converge over a wider range on smooth pictures.
    gray_a, gray_b = _smooth_gray(a), _smooth_gray(b)
    rng = np.random.default_rng(_seed(mask, a, b))
    count, labels = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    scores, areas = [], []
    for label in range(1, count):
        part = labels == label
        xs, ys = _inside(part, flow_scale)
        similarity = _refine(_fit(forward, xs, ys), xs, ys, gray_a, gray_b)
        moved = _move(part, similarity, np.array([xs.mean(), ys.mean()]), rng)
        carried[moved] = 255
        area, area_after = int(part.sum()), int(moved.sum())
        plausible = min(area, area_after) / max(area, area_after)
        scores.append(_found(similarity, xs, ys, gray_a, gray_b) * plausible)
        areas.append(area)
    return carried, float(np.average(scores, weights=areas))


def _inside(part: np.ndarray, flow_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (xs, ys) of `part` away from its edge, at most MAX_FIT_PIXELS of them."""
    # Flow smears across an edge over about half a DIS patch (8 px at the scale it was
    # estimated at), and the edge's pixels mix in what is beside the part.
    reach = max(1, round(4 / flow_scale))
    inside = cv2.erode(part.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
    ys, xs = np.nonzero(inside if inside.sum() >= MIN_FIT_PIXELS else part)
    step = max(1, len(xs) // MAX_FIT_PIXELS)
    return xs[::step], ys[::step]


def _fit(forward: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The similarity (2x3) that best fits the flow at (xs, ys), ignoring outliers."""
    here = np.stack([xs, ys], axis=1).astype(np.float32)
    there = here + forward[ys, xs]
    similarity = None
    if len(here) >= 2:
        similarity, _ = cv2.estimateAffinePartial2D(here, there, method=cv2.LMEDS)
    if similarity is None:  # a single pixel, or points all in a line: the median shift
        similarity = np.hstack([np.eye(2), np.median(there - here, axis=0)[:, None]])
    return similarity


def _refine(similarity: np.ndarray, xs: np.ndarray, ys: np.ndarray, gray_a: np.ndarray,
            gray_b: np.ndarray) -> np.ndarray:
    """`similarity` refined by Gauss-Newton (Lucas-Kanade) steps on a's pixels (xs, ys).

    DIS at a reduced scale underestimates motion by some percent and reads a slight zoom into
    a still object (its smoothing pulls towards the background); on a mask carried frame after
    frame both add up. Residuals are weighted down beyond ROBUST grey levels, so that pixels
    moving otherwise (background inside a mask painted wide) do not pull the fit. A part too
    flat for the steps to be sure of keeps the fit as it is."""
    if len(xs) < MIN_FIT_PIXELS:
        return similarity
    centre = np.array([xs.mean(), ys.mean()])
    dx, dy = xs - centre[0], ys - centre[1]
    radius = max(float(np.sqrt(np.mean(dx * dx + dy * dy))), 1.0)
    dx, dy = dx / radius, dy / radius  # so that all four parameters are in pixels at the rim
    gx = cv2.Sobel(gray_a, cv2.CV_32F, 1, 0, ksize=3)[ys, xs] / 8
    gy = cv2.Sobel(gray_a, cv2.CV_32F, 0, 1, ksize=3)[ys, xs] / 8
    # Parameters: zoom and rotation (as pixels moved at the rim), then the shift.
    jacobian = np.stack([gx * dx + gy * dy, gy * dx - gx * dy, gx, gy], axis=1)
    if np.linalg.eigvalsh(jacobian.T @ jacobian / len(xs))[0] < MIN_TEXTURE:
        return similarity
    ours = gray_a[ys, xs]
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    refined = similarity.copy()
    for _ in range(REFINE_STEPS):
        residual = _sample(gray_b, refined @ points) - ours
        weight = ROBUST / np.maximum(np.abs(residual), ROBUST)
        weighted = jacobian * weight[:, None]
        step = -np.linalg.solve(weighted.T @ jacobian, weighted.T @ residual)
        if np.abs(step).max() > 2:  # further than one linear step can be trusted to go
            return similarity
        zoom, turn, shift = step[0], step[1], step[2:]
        change = np.array([[zoom, -turn], [turn, zoom]]) / radius
        refined[:, :2] += change
        refined[:, 2] += shift - change @ centre
    return refined


def _found(similarity: np.ndarray, xs: np.ndarray, ys: np.ndarray, gray_a: np.ndarray,
           gray_b: np.ndarray) -> float:
    """Share of a's pixels (xs, ys) that look alike where `similarity` puts them in b."""
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    return float(_alike(np.abs(_sample(gray_b, similarity @ points) - gray_a[ys, xs])).mean())


def _alike(error: np.ndarray) -> np.ndarray:
    """How surely pixels match, in [0, 1], from their absolute grey difference `error`."""
    return np.clip((MATCH_TOLERANCE - error) / (MATCH_TOLERANCE - MATCH_NOISE), 0.0, 1.0)


def _move(part: np.ndarray, similarity: np.ndarray, centre: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """`part` (bool) moved by `similarity`: the deformation about `centre` is applied with a
    random cut through the resampled edge, the centre's shift rounded at random (see `carry`);
    both are right on average."""
    height, width = part.shape
    linear = similarity[:, :2]
    shift = similarity @ np.append(centre, 1.0) - centre
    whole = np.floor(shift) + (rng.random(2) < shift - np.floor(shift))
    matrix = np.hstack([linear, (centre + whole - linear @ centre)[:, None]])
    soft = cv2.warpAffine(part.astype(np.float32), matrix, (width, height),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return soft > rng.uniform(0.01, 0.99)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of `image` at points (2, N)."""
    xs, ys = points.astype(np.float32)
    return cv2.remap(image, xs[:, None], ys[:, None], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)[:, 0]


def _smooth_gray(picture: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(flow.gray(picture).astype(np.float32), (0, 0), 1.0)


def _seed(*arrays: np.ndarray) -> int:
    seed = 0
    for array in arrays:
        seed = zlib.crc32(np.ascontiguousarray(array[::3, ::3]).tobytes(), seed)
    return seed
