"""Temporal fill: the pixels under a mask are taken from nearby frames that show what is behind
it (a burnt-in logo over a moving camera, an object that moves off), moved into place by
optical flow; what no nearby frame shows is filled by OpenCV's Telea.

Flow is unreliable under a mask: a burnt-in logo does not move with the camera, and DIS
smears its stillness over the surroundings. So the flows near either frame's mask are thrown
away and filled in from the background around them before anything is warped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml import flow
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.track import flow_confidence

Neighbour = tuple[int, np.ndarray, np.ndarray]  # (frame offset, picture, its mask)

MIN_TRUST = 0.5  # flow confidence below which a neighbour's pixel is not taken
# DIS estimates each patch (8 px at the scale it runs at) as one; a patch that overlaps a
# mask carries the mask's motion, so flow that near one is not used.
PATCH = 8


class TemporalFillInpainter:
    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
        cancel: CancelToken, neighbours: Sequence[Neighbour] = (),
    ) -> np.ndarray:
        """`image` with the pixels where `mask` > 0 filled from `neighbours` (nearest first)
        where one of them shows them, by Telea elsewhere; other pixels unchanged."""
        cancel.check()
        radius = int(settings.get("inpaint_radius", 3))
        scale = float(settings.get("flow_scale", 0.5))
        reach = int(settings.get("fill_frames", 8))
        hole = mask > 0
        out = image.copy()
        missing = hole.copy()
        for offset, picture, their_mask in neighbours:
            if not missing.any():
                break
            if abs(offset) > reach:
                continue
            cancel.check()
            moved, seen = _borrow(image, hole, picture, their_mask > 0, scale)
            take = missing & seen
            out[take] = moved[take]
            missing &= ~take
        if missing.any():
            out = cv2.inpaint(out, missing.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
        out[~hole] = image[~hole]
        return out


def _borrow(image: np.ndarray, hole: np.ndarray, picture: np.ndarray, their_hole: np.ndarray,
            scale: float) -> tuple[np.ndarray, np.ndarray]:
    """`picture` moved onto `image` by flow, and where (bool) that shows what is behind hole."""
    height, width = hole.shape
    forward = flow.estimate(image, picture, scale)
    backward = flow.estimate(picture, image, scale)
    trust = flow_confidence(image, picture, forward, backward)
    # Either mask spoils the flow near it, in both directions: a still logo is seen as still.
    reach = int(np.ceil(PATCH / scale))
    spoilt = cv2.dilate((hole | their_hole).astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
    forward, backward, trust = (_fill(field, ~spoilt) for field in (forward, backward, trust))
    trust *= flow.consistency(forward, backward)
    # Behind their mask the neighbour shows the logo, not the background: not visible there.
    # Their mask grown by a pixel: its edge is often anti-aliased into the background.
    covered = cv2.dilate(their_hole.astype(np.float32), np.ones((3, 3), np.uint8))
    visible = flow.warp(covered, forward, border=cv2.BORDER_CONSTANT) == 0
    at = flow.grid(width, height) + forward
    inside = (at >= 0).all(axis=2) & (at[..., 0] <= width - 1) & (at[..., 1] <= height - 1)
    return flow.warp(picture, forward), hole & visible & inside & (trust >= MIN_TRUST)


def _fill(field: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`field` (H, W[, C] float) with its unknown pixels filled smoothly from the known ones
    (push-pull: averaged down a pyramid until every pixel has known ones under it, then
    brought back up, each level keeping what it knows)."""
    weights = known.astype(np.float32)
    values = field * _per_pixel(weights, field)
    levels = []
    while weights.min() == 0 and min(weights.shape) > 1:
        levels.append((values, weights))
        size = (weights.shape[1] // 2, weights.shape[0] // 2)
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
    filled = values / _per_pixel(np.maximum(weights, 1e-6), values)
    for values, weights in reversed(levels):
        coarse = cv2.resize(filled, weights.shape[::-1], interpolation=cv2.INTER_LINEAR)
        own = values / _per_pixel(np.maximum(weights, 1e-6), values)
        # A pixel with some known ones under it trusts them in proportion; a known one fully.
        keep = _per_pixel(np.minimum(1.0, 2 * weights), values)
        filled = keep * own + (1 - keep) * coarse
    return filled


def _per_pixel(weights: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Per-pixel `weights` (H, W) shaped to multiply `like` (H, W[, C])."""
    return weights[..., None] if like.ndim == 3 else weights


register(BackendSpec(
    "temporal-fill", "inpaint", "1", frozenset({"fill_frames", "flow_scale", "inpaint_radius"}),
    lambda runtime: TemporalFillInpainter(), temporal=True,
    description="fills the mask from nearby frames that show what is behind it, moved by "
                "optical flow; Telea where none does. No weights",
))
