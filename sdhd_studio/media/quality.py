"""Picture quality against a reference, as super-resolution and interpolation papers report it:
PSNR and SSIM on the luma (Y of BT.601 YCbCr, studio range), whole frame, no border crop.

Used by the tests and benchmarks to hold upscalers and interpolators to measured figures."""

from __future__ import annotations

import cv2
import numpy as np


def luma(rgb: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr (16-235, as MATLAB's rgb2ycbcr) of an RGB uint8 image, as float64."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two same-shape uint8 images over all channels (inf when equal)."""
    return _psnr(a.astype(np.float64), b.astype(np.float64))


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between the lumas of two same-size RGB uint8 images (inf when equal)."""
    return _psnr(luma(a), luma(b))


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) between the lumas."""
    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5)[5:-5, 5:-5]  # whole windows only

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    score = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(score.mean())


SPECKLE = 32  # luma levels an error must stand above its neighbours' to count as a speckle


def speckles(made: np.ndarray, truth: np.ndarray) -> float:
    """Share of pixels whose luma error stands more than SPECKLE above the median error of
    their 5x5 neighbourhood: isolated bright or dark pixels and torn edges that the truth does
    not show, apart from the smooth error of a picture slightly misplaced or blurred."""
    error = np.abs(luma(made) - luma(truth)).astype(np.float32)
    return float((error - cv2.medianBlur(error, 5) > SPECKLE).mean())


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x - y) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
