"""Motion-compensated deinterlacing on the project's flow: the lines a field lacks are the lines
its two neighbouring fields have, at other moments; interpolated half-way between them along
the motion (the `dis` interpolator), they are that field's missing lines wherever the motion
was found.

Whether it was found is checked against the field's own lines, which are known: where the
interpolated picture matches them, its lines in between are taken; where it does not
(occlusions, motion the flow missed), bwdif's lines stay.

Where it matches, the interpolated picture is also a second, independent look at the field's own
lines (made from two other fields), so those lines move part of the way towards it: a
motion-compensated temporal filter of the coding noise the field's lines carry. On the test
tapes that noise, not the missing lines, is most of what is left: the known lines of a PAL
MPEG-2 tape measure 40.0 dB against the truth, its missing lines 40.5 dB once taken along the
motion. Only part of the way, because the interpolated picture's lines at those rows come from
the neighbours' bwdif lines, themselves guesses.
"""

from __future__ import annotations

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml.interpolate import DisInterpolator

# Flow at the pictures' full size (coarse half): fields are small and motion between fields is
# what this is for. Mismatch with the known lines is averaged over a _WINDOW square and turned
# into a weight exp(-mismatch / _TOLERANCE) (levels of 0-255). Measured on the test tapes:
# tolerances 3-6 and windows 3-7 all within 0.05 dB of these; full-size flow or DIS' MEDIUM
# preset no better, at 2-8 times the cost.
_FLOW_SCALE = 1.0
_WINDOW = 5
_TOLERANCE = 4.0
# How far (of the weight) the field's own lines move towards the interpolated picture. 0.4 to
# 0.6 measured best across four test sources (benchmarks/README.md); all the way (1.0) falls
# below bwdif on a soft, clean one (carphone upscaled), whose own lines are better than the
# neighbours' guesses.
_KNOWN_SHARE = 0.4


def refine_field(
    before: np.ndarray, field: np.ndarray, after: np.ndarray, parity: int
) -> np.ndarray:
    """`field` (bwdif's picture of one field, RGB uint8) with its missing lines taken along the
    motion between `before` and `after` (the pictures of the fields either side) where that
    agrees with its own lines, which are rows `parity`, `parity + 2`, ... ; those move part of
    the way there too."""
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
    weight[parity::2] *= _KNOWN_SHARE
    out = current + weight * (between - current)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
