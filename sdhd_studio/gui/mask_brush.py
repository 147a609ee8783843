"""The editable inpainting mask behind the preview's brush: strokes, eraser, clear and invert.

numpy and OpenCV, no Qt: the preview widget draws it, and the engine reads the committed mask
as binary (`media.images.read_mask`: masked where above 127).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

MASKED = 255
# The engine's threshold: a pixel is masked when its level is above this.
_THRESHOLD = 127


class MaskCanvas:
    """An editable HxW uint8 mask: 0 or 255 once a stroke is committed, soft while painting.

    Coordinates are source pixels with (0, 0) at the image's top-left corner, so pixel (i, j)
    spans [i, i+1) x [j, j+1) and its centre is (i + 0.5, j + 0.5).
    """

    def __init__(self, width: int, height: int, mask: np.ndarray | None = None) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"a mask needs a positive size, not {width}x{height}")
        self.width, self.height = int(width), int(height)
        if mask is None:
            committed = np.zeros((self.height, self.width), np.uint8)
        else:
            if mask.shape != (self.height, self.width) or mask.dtype != np.uint8:
                raise ValueError(
                    f"mask is {mask.dtype} {mask.shape}, the canvas needs uint8 "
                    f"({self.height}, {self.width})"
                )
            committed = _binary(mask)
        self._committed = committed
        self._live = committed.copy()
        self._stroke: np.ndarray | None = None  # the stroke's coverage (alpha 0..255)
        self._erase = False
        self._last: tuple[float, float] | None = None

    @property
    def mask(self) -> np.ndarray:
        """The mask as it looks now (soft edges while a stroke is under way); read-only view."""
        view = self._live.view()
        view.flags.writeable = False
        return view

    @property
    def is_empty(self) -> bool:
        return not self._live.any()

    @property
    def painting(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, erase: bool = False) -> None:
        if self._stroke is not None:
            raise RuntimeError("a stroke is already under way: end it before starting another")
        self._stroke = np.zeros_like(self._committed)
        self._erase = erase
        self._last = None

    def add_point(
        self, x: float, y: float, size: float, hardness: float
    ) -> tuple[int, int, int, int] | None:
        """Paint a brush of diameter `size` at (x, y), joined to the previous point of the stroke.

        `hardness` 1 gives a hard edge; lower values feather the outer part of the brush, and
        the committed edge lies where the feathered coverage crosses one half. Returns the box
        (x0, y0, x1, y1) of mask pixels that may have changed, None when it is all off the mask.
        """
        if self._stroke is None:
            raise RuntimeError("add_point outside a stroke: call begin_stroke first")
        if not size > 0:
            raise ValueError(f"brush size must be positive, not {size}")
        if not 0.0 <= hardness <= 1.0:
            raise ValueError(f"brush hardness must be between 0 and 1, not {hardness}")
        start = self._last if self._last is not None else (x, y)
        self._last = (x, y)
        radius = size / 2.0
        reach = radius + 0.5
        x0 = max(0, math.floor(min(start[0], x) - reach))
        y0 = max(0, math.floor(min(start[1], y) - reach))
        x1 = min(self.width, math.ceil(max(start[0], x) + reach) + 1)
        y1 = min(self.height, math.ceil(max(start[1], y) + reach) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        distance = _distance_to_segment(start, (x, y), x0, y0, x1, y1)
        # Coverage is 1 inside, ramping to 0 at the brush's edge; a hard brush keeps a one-pixel
        # ramp centred on the edge (anti-aliasing) so its committed disc has the brush's radius.
        ramp = max(radius * (1.0 - hardness), 1.0)
        outer = radius + max(0.0, 1.0 - ramp / 2.0)
        alpha = np.clip((outer - distance) / ramp, 0.0, 1.0)
        stamp = (alpha * MASKED + 0.5).astype(np.uint8)
        stroke = self._stroke[y0:y1, x0:x1]
        np.maximum(stroke, stamp, out=stroke)
        base = self._committed[y0:y1, x0:x1]
        if self._erase:
            np.minimum(base, MASKED - stroke, out=self._live[y0:y1, x0:x1])
        else:
            np.maximum(base, stroke, out=self._live[y0:y1, x0:x1])
        return x0, y0, x1, y1

    def end_stroke(self) -> np.ndarray:
        """Commit the stroke as one unit; returns the binary mask (255 where masked)."""
        self._stroke = None
        self._last = None
        return self._commit(self._live)

    def clear(self) -> np.ndarray:
        self._stroke = None
        return self._commit(np.zeros_like(self._committed))

    def invert(self) -> np.ndarray:
        self._stroke = None
        return self._commit(cv2.bitwise_not(self._committed))

    def _commit(self, level: np.ndarray) -> np.ndarray:
        self._committed = _binary(level)
        self._live = self._committed.copy()
        return self._committed.copy()


def _binary(level: np.ndarray) -> np.ndarray:
    return cv2.threshold(level, _THRESHOLD, MASKED, cv2.THRESH_BINARY)[1]


def _distance_to_segment(
    a: tuple[float, float], b: tuple[float, float], x0: int, y0: int, x1: int, y1: int
) -> np.ndarray:
    """Distance from each pixel centre in [x0, x1) x [y0, y1) to the segment a-b."""
    px = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - a[0]
    py = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - a[1]
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 < 1e-12:
        return np.sqrt(px * px + py * py)
    t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
    ex = px - t * dx
    ey = py - t * dy
    return np.sqrt(ex * ex + ey * ey)
