"""The Stable Diffusion backends (diffusers): what each is, what it reads, where its model is.

Registering costs nothing: the backends (diffusion_upscale, diffusion_inpaint) import torch
and load their models when a render first uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sdhd_studio.ml import models
from sdhd_studio.ml.diffusion_inpaint import INPAINT_MODEL, DiffusionInpainter
from sdhd_studio.ml.diffusion_upscale import (
    REFINE_NEEDS_MODEL,
    UPSCALER_MODEL,
    DiffusionUpscaler,
    RefineUpscaler,
)
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.sd_pipeline import missing_packages, model_problem

PROMPTED = frozenset({"prompt", "negative_prompt", "steps", "guidance", "seed"})
SD_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")


def _check_upscaler(settings: Mapping[str, Any]) -> str | None:
    return missing_packages() or model_problem(
        settings["model"] or UPSCALER_MODEL, ("StableDiffusionUpscalePipeline",)
    )


def _check_refine(settings: Mapping[str, Any]) -> str | None:
    if not settings["model"]:
        return missing_packages() or REFINE_NEEDS_MODEL
    return missing_packages() or model_problem(settings["model"], SD_PIPELINES)


def _check_inpainter(settings: Mapping[str, Any]) -> str | None:
    # A plain SD model inpaints too (diffusers blends its latents with the mask), less well.
    return missing_packages() or model_problem(
        settings["inpaint_model"] or INPAINT_MODEL,
        ("StableDiffusionInpaintPipeline", *SD_PIPELINES),
    )


def _unknown(setting: str) -> Callable[[Mapping[str, Any]], str | None]:
    def unknown(settings: Mapping[str, Any]) -> str | None:
        ref = settings.get(setting, "")
        return models.unknown_pretrained(ref) if ref else None

    return unknown


models.hub_model(
    UPSCALER_MODEL, ("diffusion",),
    "Stable Diffusion x4 upscaler (Stability AI); several GB; prompt-guided",
)
models.hub_model(
    INPAINT_MODEL, ("diffusion-inpaint",),
    "Stable Diffusion 1.5 inpainting; several GB; prompt-guided fill",
)
register(BackendSpec(
    "diffusion", "upscale", "1", PROMPTED | {"model", "noise_level"}, DiffusionUpscaler,
    thread_safe=False, check=_check_upscaler, unknown_model=_unknown("model"),
    description="Stable Diffusion x4 upscaler (diffusers) in tiles; invents detail, slow on CPU",
))
register(BackendSpec(
    "diffusion-refine", "upscale", "1", PROMPTED | {"model", "strength"}, RefineUpscaler,
    thread_safe=False, check=_check_refine, unknown_model=_unknown("model"),
    description="Lanczos, then Stable Diffusion img2img at low strength over it "
    "(any SD model folder or hub id as `model`)",
))
register(BackendSpec(
    "diffusion-inpaint", "inpaint", "1", PROMPTED | {"inpaint_model", "inpaint_strength"},
    DiffusionInpainter,
    thread_safe=False, check=_check_inpainter, unknown_model=_unknown("inpaint_model"),
    description="Stable Diffusion inpainting (diffusers) on a crop around the mask",
))
