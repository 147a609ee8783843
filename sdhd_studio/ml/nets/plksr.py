"""PLKSR, Partial Large Kernel CNNs for efficient super-resolution (Lee & Yoo, 2024), and
RealPLKSR, the community's variant for real-world pictures (many 2x anime and photo files), as
their files hold them.

A 3x3 convolution makes features; each block mixes channels (two convolutions), runs a large
kernel (17x17 and so on) over a quarter of the channels only (the "partial" large kernel),
weighs the result by a sigmoid of a 3x3 convolution of itself ("element-wise attention"),
refines it with a 1x1 and adds the block's input. A last convolution makes scale^2 sub-pixels
per colour, added to the input repeated, and a pixel shuffle (or RealPLKSR's DySample, a
learned resampler) makes the picture. RealPLKSR also normalises each block's output (a group
norm of 4 groups) or its input (a layer norm over channels).

The paper's ablation layers (sparse and rectangular kernels) are not built: no published file
uses them. `arch_of` is numpy-free and torch-free; torch is imported when a net is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.nets.layers import conv, norm
from sdhd_studio.ml.weights import Shape, check_shapes

MIXERS = {(3, 1): "CCM", (3, 3): "DCCM", (1, 3): "ICCM"}  # (first, second) kernel sides
GROUPS = 4  # RealPLKSR's group norm, fixed in its code


@dataclass(frozen=True)
class Arch:
    dim: int
    blocks: int
    scale: int
    kernel: int  # the large kernel's side
    partial: int  # channels the large kernel runs over
    real: bool = False  # RealPLKSR (its channel mixer's key is spelt right, a norm per block)
    mixer: str = "DCCM"  # PLKSR's channel mixer (RealPLKSR's is always DCCM)
    attention: bool = True  # element-wise attention
    layer_norm: bool = False  # RealPLKSR: a layer norm before each block, else a group norm
    dysample: bool = False  # RealPLKSR: DySample in place of the pixel shuffle

    @property
    def family(self) -> str:
        return "RealPLKSR" if self.real else "PLKSR"

    @property
    def title(self) -> str:
        return f"{self.family} ({self.dim} features, {self.blocks} blocks, x{self.scale})"

    @property
    def last(self) -> int:
        """The index in `feats` of the last convolution (RealPLKSR has a dropout before it)."""
        return self.blocks + (2 if self.real else 1)

    @property
    def dysample_groups(self) -> int:
        return 3 if self.scale % 2 else 4

    def shapes(self) -> dict[str, Shape]:
        d = self.dim
        shapes = conv("feats.0", 3, d, 3)
        first, second = next(k for k, name in MIXERS.items() if name == self.mixer)
        mixer = "channel_mixer" if self.real else "channe_mixer"  # sic, in PLKSR's code
        for block in range(1, self.blocks + 1):
            name = f"feats.{block}"
            if self.layer_norm:
                shapes.update(norm(f"{name}.layer_norm", d))
            shapes.update(conv(f"{name}.{mixer}.0", d, 2 * d, first))
            shapes.update(conv(f"{name}.{mixer}.2", 2 * d, d, second))
            shapes.update(conv(f"{name}.lk.conv", self.partial, self.partial, self.kernel))
            if self.attention:
                shapes.update(conv(f"{name}.attn.f.0", d, d, 3))
            shapes.update(conv(f"{name}.refine", d, d, 1))
            if self.real and not self.layer_norm:
                shapes.update(norm(f"{name}.norm", d))
        sub = 3 * self.scale**2
        shapes.update(conv(f"feats.{self.last}", d, sub, 3))
        if self.dysample:
            offsets = 2 * self.dysample_groups * self.scale**2
            shapes.update(conv("to_img.offset", sub, offsets, 1))
            shapes.update(conv("to_img.scope", sub, offsets, 1, bias=False))
            shapes["to_img.init_pos"] = (1, offsets, 1, 1)
            if self.scale != 1:
                shapes.update(conv("to_img.end_conv", sub, 3, 1))
        return shapes


def is_plksr(shapes: Mapping[str, Shape]) -> bool:
    return ("feats.0.weight" in shapes and "feats.1.refine.weight" in shapes
            and ("feats.1.channe_mixer.0.weight" in shapes
                 or "feats.1.channel_mixer.0.weight" in shapes))


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The PLKSR or RealPLKSR whose state dict has exactly these keys and shapes;
    BackendError if none."""
    dim, channels = shapes["feats.0.weight"][:2]
    if channels != 3:
        raise BackendError(f"{source}: a PLKSR for {channels}-channel pictures; only RGB "
                           "models run here")
    if "feats.1.lk.conv.weight" not in shapes:
        raise BackendError(f"{source}: a PLKSR with sparse or rectangular large kernels (the "
                           "paper's ablations); not supported")
    real = "feats.1.channel_mixer.0.weight" in shapes
    mixer = "channel_mixer" if real else "channe_mixer"
    layers = 0
    while f"feats.{layers + 1}.refine.weight" in shapes:
        layers += 1
    last = shapes.get(f"feats.{layers + (2 if real else 1)}.weight", (0,))
    scale = math.isqrt(last[0] // 3)
    kernels = (shapes[f"feats.1.{mixer}.0.weight"][-1], shapes[f"feats.1.{mixer}.2.weight"][-1])
    if kernels not in MIXERS:
        raise BackendError(f"{source}: a PLKSR channel mixer of {kernels} kernels; not known")
    lk = shapes["feats.1.lk.conv.weight"]
    arch = Arch(dim, layers, scale, lk[-1], lk[0], real, MIXERS[kernels],
                attention="feats.1.attn.f.0.weight" in shapes,
                layer_norm="feats.1.layer_norm.weight" in shapes,
                dysample="to_img.init_pos" in shapes)
    if scale < 1 or (real and arch.mixer != "DCCM"):
        raise BackendError(f"{source}: not a PLKSR sdhd knows (last convolution {last})")
    check_shapes(arch.shapes(), shapes, source, arch.title)
    return arch


def build(arch: Arch) -> Any:
    """A PLKSR module for `arch` in eval mode (RGB 0..1 NCHW in, any size)."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    class ChannelNorm(nn.Module):
        """RealPLKSR's layer norm over the channels of each pixel."""

        def __init__(self, d: int) -> None:
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = x.mean(1, keepdim=True)
            var = (x - mean).pow(2).mean(1, keepdim=True)
            x = (x - mean) / torch.sqrt(var + 1e-6)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    class Attention(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(d, d, 3, padding=1), nn.Sigmoid())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.f(x)

    class LargeKernel(nn.Module):
        def __init__(self, partial: int, kernel: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(partial, partial, kernel, padding=kernel // 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p = self.conv.in_channels
            return torch.cat([self.conv(x[:, :p]), x[:, p:]], 1)

    class Block(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            d = arch.dim
            first, second = next(k for k, name in MIXERS.items() if name == arch.mixer)
            mixer = nn.Sequential(
                nn.Conv2d(d, 2 * d, first, padding=first // 2),
                nn.Mish() if arch.real else nn.GELU(),
                nn.Conv2d(2 * d, d, second, padding=second // 2))
            self.mixer_name = "channel_mixer" if arch.real else "channe_mixer"
            setattr(self, self.mixer_name, mixer)
            self.layer_norm = ChannelNorm(d) if arch.layer_norm else nn.Identity()
            self.lk = LargeKernel(arch.partial, arch.kernel)
            self.attn = Attention(d) if arch.attention else nn.Identity()
            self.refine = nn.Conv2d(d, d, 1)
            self.norm = (nn.GroupNorm(GROUPS, d) if arch.real and not arch.layer_norm
                         else nn.Identity())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.lk(getattr(self, self.mixer_name)(self.layer_norm(x)))
            return self.norm(self.refine(self.attn(y))) + x

    class DySample(nn.Module):
        """Each output pixel samples the sub-pixel features bilinearly at its own place,
        moved by a learned offset (scaled by a learned sigmoid "scope")."""

        def __init__(self, arch: Arch) -> None:
            super().__init__()
            sub, s, g = 3 * arch.scale**2, arch.scale, arch.dysample_groups
            self.scale, self.groups = s, g
            self.offset = nn.Conv2d(sub, 2 * g * s * s, 1)
            self.scope = nn.Conv2d(sub, 2 * g * s * s, 1, bias=False)
            # Where each sub-pixel sits in its pixel, (x, y) per group; the files carry it.
            steps = (torch.arange(s) - (s - 1) / 2) / s
            grid = torch.stack(torch.meshgrid(steps, steps, indexing="ij")).transpose(1, 2)
            self.register_buffer("init_pos", grid.repeat(1, g, 1).reshape(1, -1, 1, 1))
            self.end_conv = nn.Conv2d(sub, 3, 1) if s != 1 else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, _, h, w = x.shape
            s = self.scale
            offset = self.offset(x) * self.scope(x).sigmoid() * 0.5 + self.init_pos
            offset = offset.view(b, 2, -1, h, w)
            # Pixel centres, (x, y) for the first of the two planes: grid_sample's order.
            ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device) + 0.5,
                                    torch.arange(w, dtype=x.dtype, device=x.device) + 0.5,
                                    indexing="ij")
            centres = torch.stack([xs, ys])[None, :, None]
            size = torch.tensor([w, h], dtype=x.dtype, device=x.device).view(1, 2, 1, 1, 1)
            coords = 2 * (centres + offset) / size - 1
            coords = functional.pixel_shuffle(coords.reshape(b, -1, h, w), s)
            coords = coords.view(b, 2, -1, s * h, s * w).permute(0, 2, 3, 4, 1).flatten(0, 1)
            out = functional.grid_sample(x.reshape(b * self.groups, -1, h, w), coords,
                                         mode="bilinear", align_corners=False,
                                         padding_mode="border")
            return self.end_conv(out.view(b, -1, s * h, s * w))

    class PLKSR(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            self.arch = arch
            layers: list[nn.Module] = [nn.Conv2d(3, arch.dim, 3, padding=1)]
            layers += [Block(arch) for _ in range(arch.blocks)]
            if arch.real:
                layers.append(nn.Identity())  # the training's dropout
            layers.append(nn.Conv2d(arch.dim, 3 * arch.scale**2, 3, padding=1))
            self.feats = nn.Sequential(*layers)
            self.to_img = DySample(arch) if arch.dysample else nn.PixelShuffle(arch.scale)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            repeated = torch.repeat_interleave(x, self.arch.scale**2, dim=1)
            return self.to_img(self.feats(x) + repeated)

    return PLKSR
