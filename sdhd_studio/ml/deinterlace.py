"""Motion-compensated deinterlacing on the project's flow: the lines a field lacks are the lines
its two neighbouring fields have, at other moments; interpolated half-way between them along
the motion (the `dis` interpolator), they are that field's missing lines wherever the motion
was found.

Whether it was found is checked against the field's own lines, which are known: where the
interpolated picture matches them, its lines in between are taken; where it does not
(occlusions, motion the flow missed), bwdif's lines stay. The field's own lines never change.
"""

from __future__ import annotations

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml.interpolate import DisInterpolator

# Flow at the pictures' full size (coarse half): fields are small and motion between fields is
# what this is for. Mismatch with the known lines is averaged over a _WINDOW square and turned
# into a weight exp(-mismatch / _TOLERANCE) (levels of 0-255).
_FLOW_SCALE = 1.0
_WINDOW = 5
_TOLERANCE = 4.0


def refine_field(
    before: np.ndarray, field: np.ndarray, after: np.ndarray, parity: int
) -> np.ndarray:
    """`field` (bwdif's picture of one field, RGB uint8) with its missing lines taken along the
    motion between `before` and `after` (the pictures of the fields either side) where that
    agrees with its own lines, which are rows `parity`, `parity + 2`, ... ."""
    between = DisInterpolator().interpolate(
        before, after, [0.5], {"flow_scale": _FLOW_SCALE}, CancelToken()
    )[0].astype(np.float32)
    current = field.astype(np.float32)
    known = np.zeros(field.shape[:2], np.float32)
    known[parity::2] = 1.0
    mismatch = np.abs(between - current).mean(axis=2) * known
    size = (_WINDOW, _WINDOW)
    mismatch = cv2.boxFilter(mismatch, -1, size, normalize=False) / np.maximum(
        cv2.boxFilter(known, -1, size, normalize=False), 1e-6
    )
    weight = np.exp(-mismatch / _TOLERANCE)[..., None]
    out = current.copy()
    missing = 1 - parity
    out[missing::2] += weight[missing::2] * (between[missing::2] - current[missing::2])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
