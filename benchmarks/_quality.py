"""Image quality against a ground truth as super-resolution papers report it: PSNR and SSIM on
the luma (Y of BT.601 YCbCr, 16-235), whole frame, no border crop."""

from __future__ import annotations

import cv2
import numpy as np


def luma(rgb: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr (studio range, as MATLAB's rgb2ycbcr) of an RGB uint8 image, float."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between the lumas of two same-size RGB uint8 images (inf when equal)."""
    mse = np.mean((luma(a) - luma(b)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


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
