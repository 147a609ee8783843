"""Tiny random Stable Diffusion pipelines, saved as diffusers folders the backends load.

The same kinds of parts as the real models (x4 upscaler, img2img, 9-channel inpainting) at
about a megabyte each, in the style of diffusers' own fast tests. Most have no text
encoder or tokenizer: the backends then condition on empty (zero) prompt embeddings. Random
weights draw noise, not pictures, so tests assert sizes, determinism, progress, cancellation
and what stays untouched, never how a result looks.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CROSS_ATTENTION_DIM = 32


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread while the tiny models run: their layers are too small to share
    out, and on a busy machine waiting for a second thread made the tests five times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def save_upscaler(folder: Path, prompted: bool = False) -> Path:
    """A StableDiffusionUpscalePipeline that upscales x4, like the real one; `prompted` adds a
    tiny CLIP text encoder and tokenizer, so prompts go through the usual encoding."""
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    unet = _seeded(lambda: UNet2DConditionModel(
        block_out_channels=(16, 32),
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=32,
        in_channels=7,  # 4 latent channels + the noised low-resolution RGB image
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=8,
        use_linear_projection=True,
        num_class_embeds=1000,  # the noise level is the class label; it goes up to 350
    ))
    # Three VAE blocks: the decoder doubles twice, which is what makes the pipeline x4.
    vae = _vae((8, 8, 16), scaling_factor=0.08333)
    text_encoder, tokenizer = _text_encoder() if prompted else (None, None)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        low_res_scheduler=DDPMScheduler(steps_offset=1),
        scheduler=DDIMScheduler(prediction_type="v_prediction", steps_offset=1),
        max_noise_level=350,
    )
    return _save(pipe, folder)


def save_img2img(folder: Path) -> Path:
    """A StableDiffusionImg2ImgPipeline whose native size is 64 px (sample 32 x VAE factor 2)."""
    from diffusers import PNDMScheduler, StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline(
        vae=_vae((8, 16)), text_encoder=None, tokenizer=None, unet=_unet(in_channels=4),
        scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    return _save(pipe, folder)


def save_inpainter(folder: Path) -> Path:
    """A StableDiffusionInpaintPipeline with a 9-channel UNet; native size 64 px."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline(
        vae=_vae((8, 16)), text_encoder=None, tokenizer=None,
        # 4 latent channels + 1 mask + 4 masked-image latents
        unet=_unet(in_channels=9),
        scheduler=DDIMScheduler(steps_offset=1), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    return _save(pipe, folder)


def _text_encoder():
    """CLIP with a vocabulary of single letters (no merges), two layers of width 32."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    encoder = _seeded(lambda: CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, vocab_size=len(vocab),
        hidden_size=CROSS_ATTENTION_DIM, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77,
    )))
    return encoder, tokenizer


def _unet(in_channels: int):
    from diffusers import UNet2DConditionModel

    return _seeded(lambda: UNet2DConditionModel(
        block_out_channels=(16, 32),
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=8,
    ))


def _vae(channels: tuple[int, ...], scaling_factor: float = 0.18215):
    from diffusers import AutoencoderKL

    return _seeded(lambda: AutoencoderKL(
        block_out_channels=list(channels),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(channels),
        up_block_types=["UpDecoderBlock2D"] * len(channels),
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        scaling_factor=scaling_factor,
    ))


def _seeded(make):
    import torch

    torch.manual_seed(0)
    return make()


def _save(pipe, folder: Path) -> Path:
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
