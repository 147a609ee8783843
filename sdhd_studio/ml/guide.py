"""Keyframe-guided detail: frames between keyframes are upscaled by a fast upscaler, then given
the detail the expensive upscaler added to the keyframes, carried over by optical flow.

A keyframe's detail is the whole difference between its expensive and its fast result: the
fast result is already the low-pass picture both upscalers agree on. High-passing that
difference further only lost quality against per-frame Real-ESRGAN on the bundled sample
(benchmarks/guided.py): Real-ESRGAN also changes what the SD frame does carry (it removes
compression noise, flattens gradients), and those changes move with the content too.
What "high frequency" does mean here is on the target's side: where the target's fast picture
differs from the keyframe's fast picture moved onto it only near the SD sampling limit, that is
sampling (a sub-pixel shift aliases differently) and compression noise, not new content, and
the expensive upscaler would have removed it. So the target keeps its own changes except the
finest band: per guide, the candidate is the moved expensive keyframe plus the low-passed
difference between the target's fast picture and the moved fast keyframe.

Flow is estimated between the SD source pictures (a quarter of the pixels of HD, and free of
the upscalers' own differences) and upsampled to HD by the warp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml import flow
from sdhd_studio.ml.track import trusted_flow

# Gaussian sigma, in source pixels, of the low-pass that keeps the target's own changes: it
# halves the band at the SD sampling limit. Against per-frame Real-ESRGAN it was the best of
# 0 (keep everything) to 3; wider ones lost the target's real changes (benchmarks/guided.py).
SAMPLING_BLUR = 0.35


@dataclass(frozen=True)
class Guide:
    source: np.ndarray  # the keyframe's source picture (SD, RGB uint8, after inpainting)
    fast: np.ndarray  # the keyframe's fast-upscaled HD picture (e.g. Lanczos)
    expensive: np.ndarray  # the keyframe's finished HD picture (e.g. Real-ESRGAN, diffusion)
    distance: int  # frames between the keyframe and the target (> 0)


def transfer_detail(
    target_source: np.ndarray, target_fast: np.ndarray, guides: Sequence[Guide],
    flow_scale: float, cancel: CancelToken,
) -> np.ndarray:
    """`target_fast` (the target frame's fast HD picture, RGB uint8) with the guides' detail.

    Each guide's candidate (see above) is weighted by the flow's per-pixel confidence and by
    1 / distance, so the nearer keyframe counts more
    where both see a pixel and either counts fully where only it does. Where no guide sees a
    pixel the fast picture stays as it is. `flow_scale` is the fraction of the SD size the flow
    is estimated at."""
    height, width = target_fast.shape[:2]
    sigma = SAMPLING_BLUR * width / target_source.shape[1]
    fast = target_fast.astype(np.float32)
    weighted = np.zeros((height, width, 3), np.float32)
    total = np.zeros((height, width), np.float32)
    unseen = np.ones((height, width), np.float32)
    for guide in guides:
        _check_guide(guide, target_source, target_fast)
        cancel.check()
        forward, confidence = trusted_flow(target_source, guide.source, flow_scale)
        # Brought to HD once for the two warps below (each would resize it again).
        forward = flow.resize_flow(forward, (width, height))
        confidence = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
        own_change = cv2.GaussianBlur(fast - flow.warp(guide.fast, forward), (0, 0), sigma)
        candidate = flow.warp(guide.expensive, forward) + own_change
        weight = confidence / guide.distance
        weighted += weight[..., None] * (candidate - fast)
        total += weight
        unseen *= 1.0 - confidence
    # The confidence-weighted mean of the details, faded out by how likely no guide sees it.
    scale = np.divide(1.0 - unseen, total, out=np.zeros_like(total), where=total > 0)
    out = fast + weighted * scale[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_guide(guide: Guide, target_source: np.ndarray, target_fast: np.ndarray) -> None:
    if guide.distance <= 0:
        raise ValueError(f"a guide's distance must be > 0, not {guide.distance}")
    if guide.source.shape != target_source.shape:
        raise ValueError(f"guide source {guide.source.shape} != target {target_source.shape}")
    if guide.fast.shape != target_fast.shape or guide.expensive.shape != target_fast.shape:
        raise ValueError(
            f"guide pictures {guide.fast.shape}, {guide.expensive.shape} != {target_fast.shape}"
        )
