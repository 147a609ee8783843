"""SPAN, the Swift Parameter-free Attention Network (Wan et al., CVPR 2024 workshops, winner of
the NTIRE 2024 efficient super-resolution challenge), as community SPAN files hold it.

Every convolution is a `Conv3XC`: during training a 1x1 -> 3x3 -> 1x1 chain (twice as wide in
the middle) plus a 1x1 skip; for inference these are linear maps one after another, so they
fuse into one 3x3 convolution (`fuse`, done once when the weights are loaded; the files also
carry an `eval_conv` that the original code recomputes the same way before each use). Six
blocks each weigh their output by a parameter-free attention, sigmoid(features) - 0.5; the
first block's and last blocks' features are concatenated and pixel-shuffled up. The input is
centred on a fixed RGB mean and scaled by 255 unless the file has a `no_norm` entry; the output
is not scaled back (the net learned its output range as is).

`shapes` and `arch_of` are numpy-free and torch-free; torch is imported when a net is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.nets.layers import DIV2K_MEAN
from sdhd_studio.ml.weights import Shape, check_shapes

BLOCKS = 6
GAIN = 2  # the training chain's middle is this many times wider
IMG_RANGE = 255.0
_CONVS = ("sk", "conv.0", "conv.1", "conv.2", "eval_conv")


@dataclass(frozen=True)
class Arch:
    features: int
    scale: int
    norm: bool = True

    @property
    def title(self) -> str:
        return f"SPAN ({self.features} features, x{self.scale})"

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes."""
        f = self.features
        shapes = _conv3xc("conv_1", 3, f)
        for block in range(1, BLOCKS + 1):
            for conv in ("c1_r", "c2_r", "c3_r"):
                shapes.update(_conv3xc(f"block_{block}.{conv}", f, f))
        shapes.update({"conv_cat.weight": (f, 4 * f, 1, 1), "conv_cat.bias": (f,)})
        shapes.update(_conv3xc("conv_2", f, f))
        shapes.update({"upsampler.0.weight": (3 * self.scale**2, f, 3, 3),
                       "upsampler.0.bias": (3 * self.scale**2,)})
        if not self.norm:
            shapes["no_norm"] = (1,)
        return shapes


def _conv3xc(name: str, c_in: int, c_out: int) -> dict[str, Shape]:
    sizes = {"sk": (c_out, c_in, 1, 1), "conv.0": (GAIN * c_in, c_in, 1, 1),
             "conv.1": (GAIN * c_out, GAIN * c_in, 3, 3), "conv.2": (c_out, GAIN * c_out, 1, 1),
             "eval_conv": (c_out, c_in, 3, 3)}
    shapes = {}
    for conv in _CONVS:
        shapes[f"{name}.{conv}.weight"] = sizes[conv]
        shapes[f"{name}.{conv}.bias"] = sizes[conv][:1]
    return shapes


def is_span(shapes: Mapping[str, Shape]) -> bool:
    return "conv_1.sk.weight" in shapes and "upsampler.0.weight" in shapes


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The SPAN whose state dict has exactly these keys and shapes; BackendError if none."""
    features, channels = shapes["conv_1.sk.weight"][:2]
    scale = math.isqrt(shapes["upsampler.0.weight"][0] // 3)
    if channels != 3 or 3 * scale**2 != shapes["upsampler.0.weight"][0]:
        raise BackendError(f"{source}: a SPAN taking {channels} channels to "
                           f"{shapes['upsampler.0.weight'][0]}: not an RGB upscaler")
    arch = Arch(features, scale, norm="no_norm" not in shapes)
    check_shapes(arch.shapes(), shapes, source, arch.title)
    return arch


def build(arch: Arch) -> Any:
    """A SPAN module for `arch` in eval mode; after `load_state_dict`, call its `fuse()`."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    class Conv3XC(nn.Module):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.sk = nn.Conv2d(c_in, c_out, 1)
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, GAIN * c_in, 1),
                nn.Conv2d(GAIN * c_in, GAIN * c_out, 3),  # unpadded: the input is padded
                nn.Conv2d(GAIN * c_out, c_out, 1),
            )
            self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)

        @torch.no_grad()
        def fuse(self) -> None:
            """eval_conv = the chain and the skip as one 3x3 convolution (all linear)."""
            (w1, b1), (w2, b2), (w3, b3) = ((c.weight, c.bias) for c in self.conv)
            # 1x1 (w1) then 3x3 (w2) then 1x1 (w3): out = w3 . w2[y, x] . w1 per tap.
            weight = torch.einsum("on,nmyx,mi->oiyx", w3[:, :, 0, 0], w2, w1[:, :, 0, 0])
            # w1's bias passes through w2's every tap (the padding is zeros before w1, so
            # b1 is there too), then w3.
            inner = b2 + torch.einsum("nmyx,m->n", w2, b1)
            bias = b3 + w3[:, :, 0, 0] @ inner
            weight[:, :, 1, 1] += self.sk.weight[:, :, 0, 0]
            self.eval_conv.weight.copy_(weight)
            self.eval_conv.bias.copy_(bias + self.sk.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:  # the unfused form, as trained
                return self.conv(functional.pad(x, (1, 1, 1, 1))) + self.sk(x)
            return self.eval_conv(x)

    class SPAB(nn.Module):
        def __init__(self, f: int) -> None:
            super().__init__()
            self.c1_r, self.c2_r, self.c3_r = Conv3XC(f, f), Conv3XC(f, f), Conv3XC(f, f)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """The block's output, and its first convolution's after the activation (which
            SPAN also uses: the original applies SiLU in place, so that is what it returns)."""
            first = functional.silu(self.c1_r(x))
            out = self.c3_r(functional.silu(self.c2_r(first)))
            return (out + x) * (torch.sigmoid(out) - 0.5), first

    class SPAN(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            f = arch.features
            self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1),
                                 persistent=False)
            if not arch.norm:  # only a marker in the files that have it
                self.register_buffer("no_norm", torch.zeros(1))
            self.norm = arch.norm
            self.conv_1 = Conv3XC(3, f)
            self.blocks = [f"block_{i}" for i in range(1, BLOCKS + 1)]
            for name in self.blocks:
                setattr(self, name, SPAB(f))
            self.conv_cat = nn.Conv2d(4 * f, f, 1)
            self.conv_2 = Conv3XC(f, f)
            self.upsampler = nn.Sequential(nn.Conv2d(f, 3 * arch.scale**2, 3, padding=1),
                                           nn.PixelShuffle(arch.scale))

        def fuse(self) -> None:
            for module in self.modules():
                if isinstance(module, Conv3XC):
                    module.fuse()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.norm:
                x = (x - self.mean) * IMG_RANGE
            features = out = self.conv_1(x)
            outs = []
            for name in self.blocks:
                out, first = getattr(self, name)(out)
                outs.append(out)
            # The last block's first (activated) convolution is the fourth input.
            cat = torch.cat([features, self.conv_2(outs[-1]), outs[0], first], 1)
            return self.upsampler(self.conv_cat(cat))

    return SPAN
