"""Filling masked pixels with Stable Diffusion inpainting, on a crop around the mask.

The model sees the mask's surroundings at its native size (512 px for SD 1.x) rather than the
whole frame squeezed into it, so a small mask gets the model's full resolution. Its result is
pasted back with a ramp that ends a few pixels outside the mask: every pixel farther out keeps
the input's exact value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.ml.devices import pick_device
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.sd_pipeline import (
    PipelineSlot,
    StepCounter,
    generator,
    prompt_embeddings,
    resize,
    setting,
    steps_for_strength,
    to_uint8,
)

INPAINT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
FEATHER = 8  # px beyond the mask over which the result fades into the input
MIN_MARGIN = 32  # px of context around the (grown) mask, at least

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


class DiffusionInpainter:
    """StableDiffusionInpaintPipeline on a crop around the mask, feathered back in."""

    def __init__(self, runtime: Runtime) -> None:
        self.device = pick_device(runtime.device)
        self.slot = PipelineSlot("StableDiffusionInpaintPipeline", self.device)

    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any], cancel: CancelToken
    ) -> np.ndarray:
        cancel.check()
        strength = float(setting(settings, "inpaint_strength"))
        fill = mask > 0
        if strength <= 0 or not fill.any():
            return image.copy()
        pipe = self.slot.get(setting(settings, "inpaint_model") or INPAINT_MODEL)
        alpha = feather(fill, FEATHER)
        x0, y0, x1, y1 = crop_box(alpha > 0)
        crop, weight = image[y0:y1, x0:x1], alpha[y0:y1, x0:x1, None]
        native = pipe.unet.config.sample_size * pipe.vae_scale_factor
        width, height = work_size((x1 - x0, y1 - y0), native, pipe.vae_scale_factor)
        # The model repaints the grown mask, so the ramp blends its own pixels, not the
        # object being removed.
        grown = (weight[..., 0] > 0).astype(np.uint8) * 255
        model_mask = cv2.resize(grown, (width, height), interpolation=cv2.INTER_AREA)
        guidance = float(setting(settings, "guidance"))
        counter = StepCounter(cancel, 1)

        def on_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            counter.step(p.num_timesteps)  # raises Cancelled out of the pipeline
            return tensors

        out = pipe(
            image=Image.fromarray(resize(crop, (width, height))),
            mask_image=Image.fromarray(np.where(model_mask > 0, 255, 0).astype(np.uint8)),
            height=height, width=width, strength=strength, guidance_scale=guidance,
            num_inference_steps=steps_for_strength(int(setting(settings, "steps")), strength),
            generator=generator(setting(settings, "seed")), callback_on_step_end=on_step,
            output_type="np", **prompt_embeddings(pipe, settings, guidance > 1),
        ).images
        painted = resize(to_uint8(out), (x1 - x0, y1 - y0)).astype(np.float32)
        blended = np.rint(painted * weight + crop * (1.0 - weight)).astype(np.uint8)
        result = image.copy()
        result[y0:y1, x0:x1] = np.where(weight > 0, blended, crop)
        return result


def feather(fill: np.ndarray, width: int) -> np.ndarray:
    """Paste weights: 1 on `fill`, falling linearly to 0 at `width` px from it, 0 beyond."""
    distance = cv2.distanceTransform((~fill).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(1.0 - distance / width, 0.0, 1.0).astype(np.float32)


def crop_box(region: np.ndarray) -> Box:
    """A square around `region`'s bounding box with a margin, shifted and clamped into the
    frame (a frame too narrow for the square cuts it to a rectangle)."""
    ys, xs = np.nonzero(region)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    longest = max(bottom - top, right - left)
    side = longest + 2 * max(MIN_MARGIN, longest // 4)
    height, width = region.shape

    def span(start: int, end: int, length: int) -> tuple[int, int]:
        extent = min(side, length)
        lo = min(max(0, (start + end - extent) // 2), length - extent)
        return lo, lo + extent

    (x0, x1), (y0, y1) = span(left, right, width), span(top, bottom, height)
    return int(x0), int(y0), int(x1), int(y1)


def work_size(size: tuple[int, int], native: int, multiple: int) -> tuple[int, int]:
    """`size` scaled so its longer side is `native`, both sides rounded to `multiple`."""
    scale = native / max(size)
    return tuple(max(multiple, round(s * scale / multiple) * multiple) for s in size)
