"""RIFE's IFNet as in Practical-RIFE 4.25: the network that makes a frame between two others.

Module and parameter names are Practical-RIFE's (`encode.cnn0`, `block0.conv0.0.0`,
`block3.convblock.5.beta`, `block4.lastconv.0`), so its `flownet.pkl` loads as is;
tests/ml/rife_manifest.json lists every key and shape, taken from the official definition.

How it works: a small encoder gives each frame 4 feature channels. Five blocks, from coarse
(1/16 of the frame) to fine (full size), each estimate two flows (from the wanted moment t back
to frame 0 and to frame 1) plus a blend mask, each refining the one before from both frames
warped by the current flows. The result is the two frames warped to t, blended by the mask.
The time t is an input, so any moment in (0, 1) comes out of one pass.

Torch is imported when a network is built, not with this module.
"""

from __future__ import annotations

import functools
from typing import Any

VERSION = "4.25"
_SLOPE = 0.2  # LeakyReLU slope throughout
_FEATURES = 4  # encoder channels per frame
_WIDTHS = (192, 128, 96, 64, 32)  # channels of blocks 0-4
_LEVELS = (16, 8, 4, 2, 1)  # how far each block shrinks the frame at scale 1
_RESIDUALS = 8  # residual convolutions per block
_BLOCK_OUT = 13  # 4 flow channels (2 per frame), 1 mask, 8 features handed to the next block
_FIRST_IN = 3 + 3 + 2 * _FEATURES + 1  # both frames, their features, t
# Both warped frames and warped features, t, the mask, the features, and the flows themselves.
_NEXT_IN = 3 + 3 + 2 * _FEATURES + 1 + 1 + (_BLOCK_OUT - 5) + 4


def pad_multiple(scale: float) -> int:
    """Frame sides must be multiples of this for `scale` (a power of two).

    The coarsest block samples the frame down by 16/scale and its convolutions halve that
    twice more; a side that does not divide comes back a pixel short and cannot be added to
    the finer blocks' flows.
    """
    return max(1, round(4 * _LEVELS[0] / scale))


def build() -> Any:
    """The network in eval mode, with fresh (random) weights: load a state dict into it."""
    return _classes()[-1]().eval()


@functools.cache
def shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the network's state dict and its shape, in the official order."""
    import torch

    with torch.device("meta"):  # shapes without allocating the weights
        net = _classes()[-1]()
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


@functools.cache
def _classes() -> tuple[type, ...]:
    import torch
    from torch import nn
    from torch.nn import functional

    def act(x: torch.Tensor) -> torch.Tensor:
        return functional.leaky_relu(x, _SLOPE)

    def resample(x: torch.Tensor, factor: float) -> torch.Tensor:
        if factor == 1:  # bilinear at 1 is the identity
            return x
        return functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def backward_warp(image: torch.Tensor, flow: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """Each pixel of the result is `image` sampled at that pixel plus `flow` (in pixels).

        Sampled in float32 whatever the network's precision: half precision cannot tell apart
        neighbouring positions of a large frame in grid_sample's -1..1 coordinates.
        """
        height, width = image.shape[-2:]
        span = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=flow.device)
        where = grid + flow.float() / span.view(1, 2, 1, 1)
        out = functional.grid_sample(
            image.float(), where.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
            align_corners=True,
        )
        return out.to(image.dtype)

    def conv_act(in_ch: int, out_ch: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 2, 1), nn.LeakyReLU(_SLOPE))

    class Encoder(nn.Module):
        """Half-size convolutions and a transposed one back: 4 channels at full size."""

        def __init__(self) -> None:
            super().__init__()
            self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
            self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn3 = nn.ConvTranspose2d(16, _FEATURES, 4, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.cnn3(act(self.cnn2(act(self.cnn1(act(self.cnn0(x)))))))

    class Residual(nn.Module):
        """A convolution added to its input, scaled per channel by a learned `beta`."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return act(self.conv(x) * self.beta + x)

    class FlowBlock(nn.Module):
        """One level: works at 1/`level` of the frame (then a further 1/4 inside), answers at
        full size with a flow update, the mask and features for the next level."""

        def __init__(self, in_ch: int, width: int) -> None:
            super().__init__()
            self.conv0 = nn.Sequential(conv_act(in_ch, width // 2), conv_act(width // 2, width))
            self.convblock = nn.Sequential(*(Residual(width) for _ in range(_RESIDUALS)))
            self.lastconv = nn.Sequential(
                nn.ConvTranspose2d(width, 4 * _BLOCK_OUT, 4, 2, 1), nn.PixelShuffle(2)
            )

        def forward(
            self, x: torch.Tensor, flow: torch.Tensor | None, level: float
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x = resample(x, 1 / level)
            if flow is not None:
                # Flows are in pixels: shrinking the picture shrinks them by the same factor.
                x = torch.cat((x, resample(flow, 1 / level) / level), 1)
            out = resample(self.lastconv(self.convblock(self.conv0(x))), level)
            return out[:, :4] * level, out[:, 4:5], out[:, 5:]

    class IFNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i, width in enumerate(_WIDTHS):
                setattr(self, f"block{i}", FlowBlock(_NEXT_IN if i else _FIRST_IN, width))
            self.encode = Encoder()  # after the blocks: the official state dict's order

        def pad_multiple(self, scale: float) -> int:
            return pad_multiple(scale)

        def forward(
            self, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float = 1.0
        ) -> torch.Tensor:
            """The frame at time `t` between `img0` and `img1` (N, 3, H, W in 0..1; H and W
            multiples of `pad_multiple(scale)`). `scale` < 1 estimates motion on smaller
            pictures: faster, and sees larger motions; > 1 on larger ones."""
            n, _, height, width = img0.shape
            ys = torch.linspace(-1, 1, height, device=img0.device)
            xs = torch.linspace(-1, 1, width, device=img0.device)
            grid = torch.stack((xs.expand(height, width), ys[:, None].expand(height, width)))
            grid = grid.expand(n, 2, height, width)
            time = torch.full_like(img0[:, :1], t)
            feat0, feat1 = self.encode(img0), self.encode(img1)
            blocks = [getattr(self, f"block{i}") for i in range(len(_WIDTHS))]

            flow, mask, hidden = blocks[0](
                torch.cat((img0, img1, feat0, feat1, time), 1), None, _LEVELS[0] / scale
            )
            warped0 = backward_warp(img0, flow[:, :2], grid)
            warped1 = backward_warp(img1, flow[:, 2:], grid)
            for i in range(1, len(_WIDTHS)):
                x = torch.cat((
                    warped0, warped1,
                    backward_warp(feat0, flow[:, :2], grid),
                    backward_warp(feat1, flow[:, 2:], grid),
                    time, mask, hidden,
                ), 1)
                update, mask, hidden = blocks[i](x, flow, _LEVELS[i] / scale)
                flow = flow + update
                warped0 = backward_warp(img0, flow[:, :2], grid)
                warped1 = backward_warp(img1, flow[:, 2:], grid)
            weight = torch.sigmoid(mask)
            return warped0 * weight + warped1 * (1 - weight)

    return Encoder, Residual, FlowBlock, IFNet
