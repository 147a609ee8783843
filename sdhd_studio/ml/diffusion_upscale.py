"""Upscaling with Stable Diffusion: the x4 upscaler, or a fast resize refined by img2img.

Both run in overlapping tiles with feathered seams, so any frame size fits in memory, and
both start every tile of every frame from the same seeded noise, so a video flickers less.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from PIL import Image

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import registry, tiles
from sdhd_studio.ml.devices import Device, pick_device
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.sd_pipeline import (
    PipelineSlot,
    StepCounter,
    generator,
    pad_to_multiple,
    prompt_embeddings,
    resize,
    setting,
    steps_for_strength,
    tile_overlap,
    to_uint8,
)

UPSCALER_MODEL = "stabilityai/stable-diffusion-x4-upscaler"
REFINE_NEEDS_MODEL = (
    "needs a Stable Diffusion model: set `model` to a diffusers folder or a hub id "
    "(`sdhd models download ID` fetches one)"
)

TileRun = Callable[[np.ndarray, StepCounter], np.ndarray]


class DiffusionUpscaler:
    """StableDiffusionUpscalePipeline (x4) tile by tile, then resized to the exact target."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.device = pick_device(runtime.device)
        self.slot = PipelineSlot("StableDiffusionUpscalePipeline", self.device)

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        cancel.check()
        pipe = self.slot.get(setting(settings, "model") or UPSCALER_MODEL)
        steps = int(setting(settings, "steps"))
        guidance = float(setting(settings, "guidance"))
        seed = setting(settings, "seed")
        call = {
            "num_inference_steps": steps, "guidance_scale": guidance,
            "noise_level": int(setting(settings, "noise_level")), "output_type": "np",
            **prompt_embeddings(pipe, settings, guidance > 1),
        }
        scale = pipe.vae_scale_factor  # the decoder's upsampling: 4 for the x4 upscaler
        # The UNet works at the input's resolution and halves it per down block.
        multiple = max(scale, 2 ** (len(pipe.unet.config.block_out_channels) - 1))

        def run_tile(tile: np.ndarray, counter: StepCounter) -> np.ndarray:
            height, width = tile.shape[:2]
            out = pipe(
                image=Image.fromarray(pad_to_multiple(tile, multiple)),
                generator=generator(seed),
                # The upscale pipeline has only the legacy per-step callback; Cancelled
                # raised in it leaves the pipeline at once.
                callback=lambda i, t, latents: counter.step(steps), callback_steps=1,
                **call,
            ).images
            return to_uint8(out)[: height * scale, : width * scale]

        # The model was trained on 128 px in, 512 out. A GPU takes 256 px in a quarter as many
        # calls (and halves it if memory runs out).
        tile = self.runtime.tile or (128 if self.device.name == "cpu" else 256)
        upscaled = _tiled(image, scale, tile, run_tile, cancel, self.device, "diffusion upscaler")
        return resize(upscaled, size)


class RefineUpscaler:
    """Lanczos to the target size, then Stable Diffusion img2img at low strength over it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.device = pick_device(runtime.device)
        self.slot = PipelineSlot("StableDiffusionImg2ImgPipeline", self.device)
        self.resizer = registry.get("upscale", "lanczos").factory(runtime)

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        base = self.resizer.upscale(image, size, {}, cancel)  # {}: no sharpening under SD
        strength = float(setting(settings, "strength"))
        if strength <= 0:
            return base
        ref = setting(settings, "model")
        if not ref:
            raise BackendError(f"diffusion-refine {REFINE_NEEDS_MODEL}")
        pipe = self.slot.get(ref)
        guidance = float(setting(settings, "guidance"))
        seed = setting(settings, "seed")
        call = {
            "strength": strength, "guidance_scale": guidance, "output_type": "np",
            "num_inference_steps": steps_for_strength(int(setting(settings, "steps")), strength),
            **prompt_embeddings(pipe, settings, guidance > 1),
        }

        def run_tile(tile: np.ndarray, counter: StepCounter) -> np.ndarray:
            def on_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                counter.step(p.num_timesteps)  # the steps img2img runs: steps x strength
                return tensors

            height, width = tile.shape[:2]
            out = pipe(
                image=Image.fromarray(pad_to_multiple(tile, pipe.vae_scale_factor)),
                generator=generator(seed), callback_on_step_end=on_step, **call,
            ).images
            return to_uint8(out)[:height, :width]

        # By default tiles of the model's native size (512 px for SD 1.x), where it draws best
        # on any device.
        tile = self.runtime.tile or pipe.unet.config.sample_size * pipe.vae_scale_factor
        return _tiled(base, 1, tile, run_tile, cancel, self.device, "diffusion refine")


def _tiled(
    image: np.ndarray, scale: int, tile: int, run_tile: TileRun, cancel: CancelToken,
    device: Device, what: str,
) -> np.ndarray:
    """`run_tile` over feathered tiles of `image`; smaller tiles after an out-of-memory."""
    def attempt(side: int) -> np.ndarray:
        overlap = tile_overlap(side)
        height, width = image.shape[:2]
        calls = len(tiles.tile_starts(height, min(side, height), overlap)) * len(
            tiles.tile_starts(width, min(side, width), overlap))
        counter = StepCounter(cancel, calls)
        return tiles.run_tiled(
            image, scale, side, overlap, lambda t: run_tile(t, counter), cancel
        )

    return tiles.with_smaller_tiles_on_oom(attempt, tile, min(64, tile), device.name, what)
