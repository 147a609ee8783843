"""Real-CUGAN (bilibili's Real Cascade U-Net for anime), x2, x3 and x4 and their "pro" models,
as the published `up2x/up3x/up4x-*.pth` files hold them (definition only).

Two U-Nets in a row: the first enlarges (a transposed convolution at its bottom; x4 enlarges
by 2 there and pixel-shuffles by 2 at the end), the second refines what the first made and is
added to it. Every convolution is unpadded, so the input is reflect-padded first (18, 14 or
19 px, plus up to a multiple of 2, or of 4 for x3) and the U-Nets eat the margin: the output is
exactly the input times the scale. Squeeze-and-excitation blocks weigh the features. Pro
models work on the input squeezed to 0.15..0.85 and stretch their output back.

Torch is imported when a net is built or its shapes are asked for (a meta-device build).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.weights import Shape, check_shapes

_PAD = {2: 18, 3: 14, 4: 19}  # the margin the two U-Nets (and x4's last conv) eat
_MULTIPLE = {2: 2, 3: 4, 4: 2}  # the padded input's sides are multiples of this
MINIMUM = 32  # reflect padding by 18 needs more than 18 px; the original asks for 32


@dataclass(frozen=True)
class Arch:
    scale: int  # 2, 3 or 4
    pro: bool = False

    @property
    def title(self) -> str:
        return f"Real-CUGAN x{self.scale}{' pro' if self.pro else ''}"

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes (a pro file also has a `pro` marker entry)."""
        import torch

        with torch.device("meta"):
            state = build(self).state_dict()
        return {key: tuple(value.shape) for key, value in state.items()}


def is_realcugan(shapes: Mapping[str, Shape]) -> bool:
    return "unet1.conv1.conv.0.weight" in shapes and "unet2.conv_bottom.weight" in shapes


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The Real-CUGAN whose state dict has exactly these keys and shapes; BackendError if none."""
    channels = shapes["unet1.conv1.conv.0.weight"][1]
    if channels != 3:  # 12: the "fast" x2, which unshuffles its input first
        raise BackendError(f"{source}: a Real-CUGAN taking {channels} channels (sdhd builds the "
                           "RGB x2, x3 and x4 models)")
    if "conv_final.weight" in shapes:
        scale = 4
    else:
        scale = 3 if shapes["unet1.conv_bottom.weight"][2] == 5 else 2
    arch = Arch(scale, pro="pro" in shapes)
    check_shapes(arch.shapes(), without_extras(shapes), source, arch.title)
    return arch


def without_extras(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict without the pro models' `pro` entry (a flag, not a weight)."""
    return {key: value for key, value in state.items() if key != "pro"}


def build(arch: Arch) -> Any:
    """A Real-CUGAN module for `arch` in eval mode: RGB 0..1 in, x`scale` out."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    def lrelu(x: torch.Tensor) -> torch.Tensor:
        return functional.leaky_relu(x, 0.1)

    def crop(x: torch.Tensor, n: int) -> torch.Tensor:
        return x[..., n:-n, n:-n]

    class SqueezeExcite(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels // 8, 1)
            self.conv2 = nn.Conv2d(channels // 8, channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # The mean of a large fp16 map loses too much precision: taken in fp32.
            mean = x.float().mean((2, 3), keepdim=True).to(x.dtype)
            return x * torch.sigmoid(self.conv2(functional.relu(self.conv1(mean))))

    class Block(nn.Module):
        """Two unpadded 3x3 convolutions (each eats 1 px a side), optionally weighed."""

        def __init__(self, c_in: int, mid: int, c_out: int, se: bool) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(c_in, mid, 3), nn.LeakyReLU(0.1),
                                      nn.Conv2d(mid, c_out, 3), nn.LeakyReLU(0.1))
            self.seblock = SqueezeExcite(c_out) if se else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)
            return x if self.seblock is None else self.seblock(x)

    class UNet1(nn.Module):
        """One level down; its bottom enlarges x2 (or x3)."""

        def __init__(self, c_in: int, c_out: int, scale: int) -> None:
            super().__init__()
            self.conv1 = Block(c_in, 32, 64, se=False)
            self.conv1_down = nn.Conv2d(64, 64, 2, 2)
            self.conv2 = Block(64, 128, 64, se=True)
            self.conv2_up = nn.ConvTranspose2d(64, 64, 2, 2)
            self.conv3 = nn.Conv2d(64, 64, 3)
            self.conv_bottom = (nn.ConvTranspose2d(64, c_out, 5, 3, 2) if scale == 3
                                else nn.ConvTranspose2d(64, c_out, 4, 2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x1 = self.conv1(x)
            x2 = lrelu(self.conv2_up(self.conv2(lrelu(self.conv1_down(x1)))))
            return self.conv_bottom(lrelu(self.conv3(crop(x1, 4) + x2)))

    class UNet2(nn.Module):
        """Two levels down, same size out (less the margin it eats)."""

        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.conv1 = Block(c_in, 32, 64, se=False)
            self.conv1_down = nn.Conv2d(64, 64, 2, 2)
            self.conv2 = Block(64, 64, 128, se=True)
            self.conv2_down = nn.Conv2d(128, 128, 2, 2)
            self.conv3 = Block(128, 256, 128, se=True)
            self.conv3_up = nn.ConvTranspose2d(128, 128, 2, 2)
            self.conv4 = Block(128, 64, 64, se=True)
            self.conv4_up = nn.ConvTranspose2d(64, 64, 2, 2)
            self.conv5 = nn.Conv2d(64, 64, 3)
            self.conv_bottom = nn.Conv2d(64, c_out, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x1 = self.conv1(x)
            x2 = self.conv2(lrelu(self.conv1_down(x1)))
            x3 = lrelu(self.conv3_up(self.conv3(lrelu(self.conv2_down(x2)))))
            x4 = lrelu(self.conv4_up(self.conv4(crop(x2, 4) + x3)))
            return self.conv_bottom(lrelu(self.conv5(crop(x1, 16) + x4)))

    class RealCUGAN(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            self.scale, self.pro = arch.scale, arch.pro
            # x4 keeps 64 features through both U-Nets and maps them to pixels at the end.
            width = 64 if arch.scale == 4 else 3
            self.unet1 = UNet1(3, width, arch.scale)
            self.unet2 = UNet2(width, width)
            if arch.scale == 4:
                self.conv_final = nn.Conv2d(64, 3 * 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = x.shape[-2:]
            if self.pro:
                x = x * 0.7 + 0.15
            pad, multiple = _PAD[self.scale], _MULTIPLE[self.scale]
            padded = functional.pad(
                x, (pad, pad + -width % multiple, pad, pad + -height % multiple), "reflect"
            )
            first = self.unet1(padded)
            out = self.unet2(first) + crop(first, 20)
            if self.scale == 4:
                out = functional.pixel_shuffle(crop(self.conv_final(out), 1), 2)
            out = out[..., : height * self.scale, : width * self.scale]
            if self.scale == 4:
                out = out + functional.interpolate(x, scale_factor=4, mode="nearest")
            return (out - 0.15) / 0.7 if self.pro else out

    return RealCUGAN
