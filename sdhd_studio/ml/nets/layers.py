"""What the community nets share: the layers their original code puts in a state dict (keys
and shapes, for each net's `Arch.shapes()`), the mean they centre pictures on, and the
convolution closing a group of transformer blocks. Torch-free until a module is built."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sdhd_studio.ml.weights import Shape

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # RGB; fixed in the original code (not in the files)


def conv(name: str, c_in: int, c_out: int, k: int, bias: bool = True) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {f"{name}.weight": (c_out, c_in, k, k)}
    if bias:
        shapes[f"{name}.bias"] = (c_out,)
    return shapes


def linear(name: str, c_in: int, c_out: int, bias: bool = True) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {f"{name}.weight": (c_out, c_in)}
    if bias:
        shapes[f"{name}.bias"] = (c_out,)
    return shapes


def norm(name: str, c: int) -> dict[str, Shape]:
    """A layer norm's (or any per-channel affine's) weight and bias."""
    return {f"{name}.weight": (c,), f"{name}.bias": (c,)}


def closing(name: str, e: int, three: bool) -> dict[str, Shape]:
    """The convolution closing a group of blocks (`closing_module`)."""
    if not three:
        return conv(name, e, e, 3)
    return {**conv(f"{name}.0", e, e // 4, 3), **conv(f"{name}.2", e // 4, e // 4, 1),
            **conv(f"{name}.4", e // 4, e, 3)}


def closing_module(e: int, three: bool) -> Any:
    """One 3x3 convolution, or (`three`, the "3conv" of the real-world nets, to save
    parameters) a 3x3 - 1x1 - 3x3 bottleneck at a quarter of the width."""
    from torch import nn

    if not three:
        return nn.Conv2d(e, e, 3, padding=1)
    return nn.Sequential(nn.Conv2d(e, e // 4, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(e // 4, e // 4, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(e // 4, e, 3, padding=1))


def without(state: Mapping[str, Any], names: Collection[str]) -> dict[str, Any]:
    """`state` less the entries whose last name part is one of `names`: buffers a net makes
    itself for the picture at hand (masks, position indices), profiling counters."""
    return {key: value for key, value in state.items() if key.rsplit(".", 1)[-1] not in names}


def run_group(blocks: Iterable[Any], closing: Any, x: Any, *context: Any) -> Any:
    """A residual group of transformer blocks over (B, H, W, C) tokens (each also given
    `context`: masks), then its closing convolution (`closing_module`), plus its input."""
    y = x
    for block in blocks:
        y = block(y, *context)
    return closing(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + x
