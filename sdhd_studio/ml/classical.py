"""Weight-free backends on OpenCV: Lanczos and bicubic upscaling, Telea and Navier-Stokes fill."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml.registry import BackendSpec, register


class ResizeUpscaler:
    def __init__(self, interpolation: int) -> None:
        self.interpolation = interpolation

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        cancel.check()
        out = cv2.resize(image, size, interpolation=self.interpolation)
        amount = float(settings.get("sharpen", 0.0))
        if amount > 0:
            # Unsharp mask: resampling softens edges; this restores some of their contrast.
            blurred = cv2.GaussianBlur(out, (0, 0), sigmaX=1.0)
            out = cv2.addWeighted(out, 1 + amount, blurred, -amount, 0)
        return out


class ClassicalInpainter:
    def __init__(self, method: int) -> None:
        self.method = method

    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any], cancel: CancelToken
    ) -> np.ndarray:
        cancel.check()
        return cv2.inpaint(image, mask, int(settings.get("inpaint_radius", 3)), self.method)


register(BackendSpec(
    "lanczos", "upscale", "1", frozenset({"sharpen"}),
    lambda runtime: ResizeUpscaler(cv2.INTER_LANCZOS4),
    description="Lanczos resampling (OpenCV); fast, no weights",
))
register(BackendSpec(
    "bicubic", "upscale", "1", frozenset({"sharpen"}),
    lambda runtime: ResizeUpscaler(cv2.INTER_CUBIC),
    description="bicubic resampling (OpenCV); fastest, no weights",
))
register(BackendSpec(
    "telea", "inpaint", "1", frozenset({"inpaint_radius"}),
    lambda runtime: ClassicalInpainter(cv2.INPAINT_TELEA),
    description="Telea fast marching fill (OpenCV); no weights",
))
register(BackendSpec(
    "navier-stokes", "inpaint", "1", frozenset({"inpaint_radius"}),
    lambda runtime: ClassicalInpainter(cv2.INPAINT_NS),
    description="Navier-Stokes fill (OpenCV); no weights",
))
