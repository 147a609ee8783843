"""The compact x2 network of the `realtime` and `restore` upscalers (definition only).

ESPCN / SRVGGNetCompact class: 3x3 convolutions with PReLU at low resolution, a last convolution
to 4 sub-pixels per channel, a pixel shuffle to x2, all added to a bilinear x2 of the input, so
the layers learn only the detail bilinear misses. Nothing runs at high resolution but the sum.

Torch is imported when a network is built, not with this module.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any


def build(features: int = 32, convs: int = 4) -> Any:
    """A CompactX2 module with fresh weights: RGB 0..1, N x 3 x H x W -> N x 3 x 2H x 2W (not
    clamped). Its state dict keys are `body.I.weight/bias` (convolutions, PReLU slopes)."""
    return _class()(features, convs)


def shape_of(state: Mapping[str, Any]) -> tuple[int, int]:
    """(features, convs) of a CompactX2 state dict (torch or numpy arrays)."""
    features = state["body.0.weight"].shape[0]
    convs = sum(1 for key, value in state.items()
                if key.startswith("body.") and key.endswith(".weight") and value.ndim == 4) - 2
    return features, convs


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    class CompactX2(nn.Module):
        def __init__(self, features: int, convs: int) -> None:
            super().__init__()
            layers: list[nn.Module] = [nn.Conv2d(3, features, 3, padding=1), nn.PReLU(features)]
            for _ in range(convs):
                layers += [nn.Conv2d(features, features, 3, padding=1), nn.PReLU(features)]
            layers.append(nn.Conv2d(features, 3 * 4, 3, padding=1))
            self.body = nn.Sequential(*layers)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            base = functional.interpolate(x, scale_factor=2, mode="bilinear",
                                          align_corners=False)
            return self.shuffle(self.body(x)) + base

    return CompactX2
