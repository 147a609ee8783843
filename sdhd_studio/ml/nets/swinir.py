"""SwinIR (Liang et al., ICCV 2021 workshops), image restoration with Swin transformers, as the
community's SwinIR files hold it: classical, lightweight and real-world super-resolution (x2,
x3, x4, x8) and the x1 denoising and JPEG nets.

A 3x3 convolution makes features; groups of Swin blocks (attention inside 8x8 windows, every
other block's windows shifted by half a window so that information crosses window borders),
each group closed by a convolution and a skip, refine them; one of four tails makes the
picture. The input is centred on DIV2K's mean and padded (reflected) to whole windows, the
output cropped back.

Files carry two buffers besides the weights: each block's `relative_position_index` (fixed by
the window size) and each shifted block's `attn_mask` (fixed by the training crop's size).
Both are made here for the picture at hand instead, so those keys are dropped on loading.

`arch_of` is numpy-free and torch-free; torch is imported when a net is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.nets.layers import (
    DIV2K_MEAN,
    closing,
    closing_module,
    conv,
    linear,
    norm,
    run_group,
    without,
)
from sdhd_studio.ml.nets.windows import merge, partition, relative_index, shifted_mask
from sdhd_studio.ml.weights import Shape, check_shapes

TAILS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "")
_BUFFERS = ("attn_mask", "relative_position_index")
_FIRST = "layers.0.residual_group.blocks.0."


@dataclass(frozen=True)
class Arch:
    embed_dim: int
    depths: tuple[int, ...]  # Swin blocks in each group
    heads: tuple[int, ...]  # attention heads in each group
    window: int
    mlp_hidden: int
    tail: str  # one of TAILS; "" for the x1 nets
    scale: int
    features: int = 64  # the tail's width (not used by pixelshuffledirect and "")
    three_convs: bool = False  # each group closes with 3 convolutions (real-world nets)
    patch_norm: bool = True

    @property
    def title(self) -> str:
        return f"SwinIR ({len(self.depths)} groups, {self.embed_dim} dims, x{self.scale})"

    @property
    def img_range(self) -> float:
        """What the input is scaled by after centring: the JPEG nets, the only ones with 7x7
        windows, learned on 0..255; the others on 0..1."""
        return 255.0 if self.window == 7 else 1.0

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes, without the two buffers (see the module's
        docstring)."""
        e = self.embed_dim
        shapes = conv("conv_first", 3, e, 3)
        if self.patch_norm:
            shapes.update(norm("patch_embed.norm", e))
        for layer, (depth, heads) in enumerate(zip(self.depths, self.heads, strict=True)):
            for block in range(depth):
                name = f"layers.{layer}.residual_group.blocks.{block}"
                shapes.update(norm(f"{name}.norm1", e))
                shapes[f"{name}.attn.relative_position_bias_table"] = (
                    (2 * self.window - 1) ** 2, heads)
                shapes.update(linear(f"{name}.attn.qkv", e, 3 * e))
                shapes.update(linear(f"{name}.attn.proj", e, e))
                shapes.update(norm(f"{name}.norm2", e))
                shapes.update(linear(f"{name}.mlp.fc1", e, self.mlp_hidden))
                shapes.update(linear(f"{name}.mlp.fc2", self.mlp_hidden, e))
            shapes.update(closing(f"layers.{layer}.conv", e, self.three_convs))
        shapes.update(norm("norm", e))
        shapes.update(closing("conv_after_body", e, self.three_convs))
        f = self.features
        if self.tail == "pixelshuffle":
            shapes.update(conv("conv_before_upsample.0", e, f, 3))
            for index, factor in enumerate(_factors(self.scale)):
                shapes.update(conv(f"upsample.{2 * index}", f, factor**2 * f, 3))
            shapes.update(conv("conv_last", f, 3, 3))
        elif self.tail == "pixelshuffledirect":
            shapes.update(conv("upsample.0", e, 3 * self.scale**2, 3))
        elif self.tail == "nearest+conv":
            shapes.update(conv("conv_before_upsample.0", e, f, 3))
            for step in range(1, int(math.log2(self.scale)) + 1):
                shapes.update(conv(f"conv_up{step}", f, f, 3))
            shapes.update(conv("conv_hr", f, f, 3))
            shapes.update(conv("conv_last", f, 3, 3))
        else:
            shapes.update(conv("conv_last", e, 3, 3))
        return shapes


def _factors(scale: int) -> list[int]:
    """The pixel-shuffle steps of the classical tail: x2 steps, or one x3."""
    return [3] if scale == 3 else [2] * int(math.log2(scale))


def is_swinir(shapes: Mapping[str, Shape]) -> bool:
    """SwinIR's blocks (HAT's also have windowed attention, but a convolution block too)."""
    return ("conv_first.weight" in shapes
            and f"{_FIRST}attn.relative_position_bias_table" in shapes
            and f"{_FIRST}mlp.fc1.weight" in shapes
            and not any(key.startswith(f"{_FIRST}conv_block") for key in shapes))


def without_extras(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state without the buffers the net makes itself."""
    return without(state, _BUFFERS)


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The SwinIR whose state dict has exactly these keys and shapes (besides the buffers);
    BackendError if none."""
    shapes = without_extras(shapes)
    embed_dim, channels = shapes["conv_first.weight"][:2]
    if channels != 3:
        raise BackendError(f"{source}: a SwinIR for {channels}-channel pictures; only RGB "
                           "models run here")
    if "absolute_pos_embed" in shapes:
        raise BackendError(f"{source}: a SwinIR with absolute positions, fixed to one picture "
                           "size; not supported")
    depths, heads = [], []
    while f"layers.{len(depths)}.residual_group.blocks.0.norm1.weight" in shapes:
        layer = len(depths)
        depth = 0
        while f"layers.{layer}.residual_group.blocks.{depth}.norm1.weight" in shapes:
            depth += 1
        table = f"layers.{layer}.residual_group.blocks.0.attn.relative_position_bias_table"
        depths.append(depth)
        heads.append(shapes[table][1])
    rows = shapes[f"{_FIRST}attn.relative_position_bias_table"][0]
    window = (math.isqrt(rows) + 1) // 2
    tail, scale, features = _tail(shapes)
    arch = Arch(embed_dim, tuple(depths), tuple(heads), window,
                shapes[f"{_FIRST}mlp.fc1.weight"][0], tail, scale, features,
                three_convs="conv_after_body.0.weight" in shapes,
                patch_norm="patch_embed.norm.weight" in shapes)
    check_shapes(arch.shapes(), shapes, source, arch.title)
    if embed_dim % math.lcm(*heads):
        raise BackendError(f"{source}: {embed_dim} dims do not split into {heads} heads")
    return arch


def _tail(shapes: Mapping[str, Shape]) -> tuple[str, int, int]:
    """(tail, scale, its width) from the keys the four tails have."""
    if "conv_up1.weight" in shapes:
        steps = sum(f"conv_up{n}.weight" in shapes for n in (1, 2, 3))
        return "nearest+conv", 2**steps, shapes["conv_up1.weight"][0]
    if "conv_before_upsample.0.weight" in shapes:
        features = shapes["conv_before_upsample.0.weight"][0]
        scale = 1
        for index in range(0, 6, 2):
            if (weight := shapes.get(f"upsample.{index}.weight")) is not None:
                scale *= math.isqrt(weight[0] // features)
        return "pixelshuffle", scale, features
    if "upsample.0.weight" in shapes:
        return "pixelshuffledirect", math.isqrt(shapes["upsample.0.weight"][0] // 3), 64
    return "", 1, 64


def build(arch: Arch) -> Any:
    """A SwinIR module for `arch` in eval mode, taking any picture size (RGB 0..1, NCHW)."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    class Mlp(nn.Module):
        def __init__(self, e: int, hidden: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(e, hidden), nn.Linear(hidden, e)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(functional.gelu(self.fc1(x)))

    class WindowAttention(nn.Module):
        def __init__(self, e: int, w: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((2 * w - 1) ** 2, heads))
            self.register_buffer("index", relative_index(w, w).flatten(), persistent=False)
            self.qkv, self.proj = nn.Linear(e, 3 * e), nn.Linear(e, e)

        def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            n_windows, n, e = x.shape
            q, k, v = self.qkv(x).view(n_windows, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
            attn = attn + self.relative_position_bias_table[self.index].view(n, n, -1).permute(
                2, 0, 1)
            if mask is not None:  # one per window, the same in every picture of the batch
                attn = (attn.view(-1, mask.shape[0], self.heads, n, n) + mask[:, None]).view(
                    n_windows, self.heads, n, n)
            return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(n_windows, n, e))

    class SwinBlock(nn.Module):
        def __init__(self, arch: Arch, heads: int, shifted: bool) -> None:
            super().__init__()
            e = arch.embed_dim
            self.window, self.shifted = arch.window, shifted
            self.norm1, self.norm2 = nn.LayerNorm(e), nn.LayerNorm(e)
            self.attn = WindowAttention(e, arch.window, heads)
            self.mlp = Mlp(e, arch.mlp_hidden)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, h, width, e = x.shape
            w, shift = self.window, self.window // 2
            y = self.norm1(x)
            if self.shifted:
                y = torch.roll(y, (-shift, -shift), (1, 2))
            y = merge(self.attn(partition(y, w, w), mask if self.shifted else None), w, w, h,
                      width)
            if self.shifted:
                y = torch.roll(y, (shift, shift), (1, 2))
            x = x + y
            return x + self.mlp(self.norm2(x))

    class ResidualGroup(nn.Module):
        """Swin blocks over (B, H, W, C) tokens, then a convolution, plus the group's input."""

        def __init__(self, arch: Arch, depth: int, heads: int) -> None:
            super().__init__()
            self.residual_group = nn.Module()
            self.residual_group.blocks = nn.ModuleList(
                SwinBlock(arch, heads, shifted=i % 2 == 1) for i in range(depth))
            self.conv = closing_module(arch.embed_dim, arch.three_convs)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return run_group(self.residual_group.blocks, self.conv, x, mask)

    class SwinIR(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            self.arch = arch
            e, f = arch.embed_dim, arch.features
            self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1),
                                 persistent=False)
            self.conv_first = nn.Conv2d(3, e, 3, padding=1)
            if arch.patch_norm:
                self.patch_embed = nn.Module()
                self.patch_embed.norm = nn.LayerNorm(e)
            self.layers = nn.ModuleList(
                ResidualGroup(arch, d, h) for d, h in zip(arch.depths, arch.heads, strict=True))
            self.norm = nn.LayerNorm(e)
            self.conv_after_body = closing_module(e, arch.three_convs)
            act = nn.LeakyReLU(0.01)  # the original's default slope here
            if arch.tail == "pixelshuffle":
                self.conv_before_upsample = nn.Sequential(nn.Conv2d(e, f, 3, padding=1), act)
                steps: list[nn.Module] = []
                for factor in _factors(arch.scale):
                    steps += [nn.Conv2d(f, factor**2 * f, 3, padding=1), nn.PixelShuffle(factor)]
                self.upsample = nn.Sequential(*steps)
                self.conv_last = nn.Conv2d(f, 3, 3, padding=1)
            elif arch.tail == "pixelshuffledirect":
                self.upsample = nn.Sequential(nn.Conv2d(e, 3 * arch.scale**2, 3, padding=1),
                                              nn.PixelShuffle(arch.scale))
            elif arch.tail == "nearest+conv":
                self.conv_before_upsample = nn.Sequential(nn.Conv2d(e, f, 3, padding=1), act)
                self.ups = [f"conv_up{n}" for n in range(1, int(math.log2(arch.scale)) + 1)]
                for name in self.ups:
                    setattr(self, name, nn.Conv2d(f, f, 3, padding=1))
                self.conv_hr = nn.Conv2d(f, f, 3, padding=1)
                self.conv_last = nn.Conv2d(f, 3, 3, padding=1)
            else:
                self.conv_last = nn.Conv2d(e, 3, 3, padding=1)

        def body(self, x: torch.Tensor) -> torch.Tensor:
            """The deep features of the first convolution's `x`, plus `x`."""
            tokens = x.permute(0, 2, 3, 1)  # (B, H, W, C): the blocks work per position
            if self.arch.patch_norm:
                tokens = self.patch_embed.norm(tokens)
            w = self.arch.window
            mask = shifted_mask(x.shape[2], x.shape[3], w, w, x.device, x.dtype)
            for layer in self.layers:
                tokens = layer(tokens, mask)
            deep = self.norm(tokens).permute(0, 3, 1, 2)
            return self.conv_after_body(deep) + x

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            arch = self.arch
            h, width = x.shape[2:]
            w = arch.window
            x = functional.pad(x, (0, -width % w, 0, -h % w), mode="reflect")
            x = (x - self.mean) * arch.img_range
            if arch.tail == "":
                out = x + self.conv_last(self.body(self.conv_first(x)))
            elif arch.tail == "pixelshuffledirect":
                out = self.upsample(self.body(self.conv_first(x)))
            else:
                y = self.conv_before_upsample(self.body(self.conv_first(x)))
                if arch.tail == "pixelshuffle":
                    out = self.conv_last(self.upsample(y))
                else:
                    for name in self.ups:
                        up = functional.interpolate(y, scale_factor=2, mode="nearest")
                        y = functional.leaky_relu(getattr(self, name)(up), 0.2)
                    out = self.conv_last(functional.leaky_relu(self.conv_hr(y), 0.2))
            out = out / arch.img_range + self.mean
            return out[:, :, : h * arch.scale, : width * arch.scale]

    return SwinIR
