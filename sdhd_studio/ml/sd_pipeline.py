"""What the Stable Diffusion backends share: finding and loading a pipeline, prompts, seeds,
per-step progress, and the image conversions around a pipeline call.

torch and diffusers load inside the functions that need them, never when this module imports.
"""

from __future__ import annotations

import gc
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sdhd_studio.core import build
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.core.settings import DEFAULTS
from sdhd_studio.ml import models
from sdhd_studio.ml.devices import Device

# CLIP's token count in every Stable Diffusion 1.x/2.x text encoder.
PROMPT_TOKENS = 77


def setting(settings: Mapping[str, Any], name: str) -> Any:
    """`settings[name]`, or its default when a caller passed fewer settings."""
    return settings.get(name, DEFAULTS[name])


def missing_packages() -> str | None:
    """Why diffusers cannot run here, without importing it (`check` must stay cheap)."""
    return build.missing("torch", "diffusers")


def model_problem(ref: str, pipelines: tuple[str, ...]) -> str | None:
    """Why `ref` cannot be loaded as one of `pipelines` (diffusers class names), or None.

    Reads only the model's model_index.json, so it is cheap enough for `check`.
    """
    location = models.locate_pretrained(ref)
    if location.path is None:
        return f"model {ref}: {location.where}"
    kind = _model_index(location.path).get("_class_name")
    if kind not in pipelines:
        return f"model {ref} is a {kind or 'unknown pipeline'}, not a {' or '.join(pipelines)}"
    return None


def tile_overlap(tile: int) -> int:
    # Diffusion invents detail, so neighbouring tiles differ more than a CNN's do: a wide
    # ramp hides that, at ~30% more pixels than no overlap.
    return max(8, tile // 8)


class PipelineSlot:
    """The one diffusers pipeline a backend keeps loaded: another model replaces it.

    The dtype comes from the device (fp16 on CUDA) and a backend instance has one device, so
    the model reference alone identifies what is loaded.
    """

    def __init__(self, pipeline: str, device: Device) -> None:
        self.pipeline = pipeline  # diffusers class name
        self.device = device
        self._ref: str | None = None
        self._pipe: Any = None

    def get(self, ref: str) -> Any:
        if ref != self._ref:
            if self._pipe is not None:
                # Drop the old model before loading the new one: two rarely fit in GPU memory.
                self._ref, self._pipe = None, None
                _free_memory()
            self._pipe = load_pipeline(self.pipeline, models.pretrained_folder(ref), self.device)
            self._ref = ref
        return self._pipe


def load_pipeline(pipeline: str, folder: Path, device: Device) -> Any:
    """The diffusers `pipeline` class loaded from a local `folder`, on `device`; never online."""
    import torch

    cls = getattr(importlib.import_module("diffusers"), pipeline)
    # Components the folder declares absent (text_encoder: [null, null]) must be passed as
    # None: a pipeline whose constructor requires them refuses to load otherwise.
    absent = {name: None for name, entry in _model_index(folder).items() if entry == [None, None]}
    if "safety_checker" in _model_index(folder):
        # A false positive paints the tile or crop black, which in a restored film is a ruined
        # frame; the pictures here are the user's own footage.
        absent.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    has_safetensors = next(folder.rglob("*.safetensors"), None) is not None
    try:
        pipe = cls.from_pretrained(
            folder, local_files_only=True, use_safetensors=True if has_safetensors else None,
            dtype=torch.float16 if device.half_precision else torch.float32, **absent,
        ).to(device.name)
    except Exception as exc:  # missing weights, a broken config, a component of another kind
        first_line = next(iter(str(exc).strip().splitlines()), "no details")
        raise BackendError(
            f"the model in {folder} could not be loaded as a {pipeline}: "
            f"{type(exc).__name__}: {first_line}"
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    vae = pipe.vae
    # Tiled decoding blends tiles of the VAE's own sample size; below 256 px the tiles are
    # too small to blend well, and our tiles already bound the decoder's memory.
    if hasattr(vae, "enable_tiling") and _sample_side(vae.config.sample_size) >= 256:
        vae.enable_tiling()
    if device.name == "mps":
        pipe.enable_attention_slicing()  # MPS shares the system's memory; attention peaks
    return pipe


def prompt_embeddings(pipe: Any, settings: Mapping[str, Any], guided: bool) -> dict[str, Any]:
    """`prompt_embeds` and `negative_prompt_embeds` for a pipeline call, encoded once a frame.

    A pipeline saved without a text encoder or tokenizer (the tiny test models, or a folder a
    user stripped) conditions on empty, all-zero embeddings: the prompt cannot mean anything
    to it, and zeros keep the call valid and deterministic.
    """
    import torch

    if pipe.text_encoder is None or pipe.tokenizer is None:
        zeros = torch.zeros(
            (1, PROMPT_TOKENS, pipe.unet.config.cross_attention_dim),
            dtype=pipe.unet.dtype, device=pipe.device,
        )
        return {"prompt_embeds": zeros, "negative_prompt_embeds": zeros}
    with torch.no_grad():
        embeds, negative = pipe.encode_prompt(
            setting(settings, "prompt"), pipe.device, 1, guided,
            negative_prompt=setting(settings, "negative_prompt") or None,
        )
    return {"prompt_embeds": embeds, "negative_prompt_embeds": negative}


def generator(seed: int) -> Any:
    """A fresh generator per tile or crop: the same seed starts every frame from the same
    noise, which keeps a video from flickering. It lives on the CPU so a seed gives the same
    noise on every device (and MPS has no generator of its own)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed))


def steps_for_strength(steps: int, strength: float) -> int:
    """The `num_inference_steps` that runs at least one step at `strength` (> 0).

    img2img and inpainting run int(steps * strength) of the steps; 20 steps at 0.04 would
    run none, and diffusers refuses that.
    """
    while int(steps * strength) < 1:
        steps += 1
    return steps


class StepCounter:
    """Counts denoising steps across all the pipeline calls of one frame."""

    def __init__(self, cancel: CancelToken, calls: int) -> None:
        self.cancel = cancel
        self.calls = calls
        self.done = 0

    def step(self, per_call: int) -> None:
        """One more step done; raises Cancelled (out of the pipeline) if cancelled."""
        self.done += 1
        self.cancel.step(self.done, max(self.done, self.calls * per_call))


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """`image` mirrored at the bottom and right edges to sides divisible by `multiple`."""
    height, width = image.shape[:2]
    pad = [(0, -height % multiple), (0, -width % multiple)] + [(0, 0)] * (image.ndim - 2)
    if not (pad[0][1] or pad[1][1]):
        return image
    return np.pad(image, pad, mode="symmetric")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """The first of a pipeline's `output_type="np"` images (floats in 0..1) as RGB uint8."""
    return np.clip(np.rint(images[0] * 255.0), 0, 255).astype(np.uint8)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` at exactly `size` = (width, height): area averaging to shrink, Lanczos to grow."""
    height, width = image.shape[:2]
    if (width, height) == tuple(size):
        return image
    shrink = size[0] <= width and size[1] <= height
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def _model_index(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return {}


def _sample_side(sample_size: int | tuple[int, ...] | list[int]) -> int:
    return min(sample_size) if isinstance(sample_size, (list, tuple)) else int(sample_size)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
