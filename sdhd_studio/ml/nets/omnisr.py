"""Omni-SR (Wang et al., "Omni Aggregation Networks for Lightweight Image Super-Resolution",
CVPR 2023), as the authors' code and community OmniSR files hold it.

A 3x3 convolution, then groups (OSAG) of omni self-attention blocks, each group closed by a
1x1 convolution, a skip and an enhanced spatial attention (ESA); a 3x3 convolution added to the
first features, then a convolution and a pixel shuffle up. Each block mixes space and channels
four ways: attention among the pixels of each window and among pixels one grid step apart
across the whole picture (with a learned relative-position bias), and attention among the
channels of each window and of each grid position. So the grid attention, the channel means
of its squeeze-and-excitation and ESA's pooling see the whole input: a tile's output depends
on the tile. The input (RGB 0..1, no mean taken off) is padded with zeros at the bottom and
right up to a multiple of the window, as the original does, and the output cropped back.

The files carry no window size unless they have the position bias (the original's default,
8, then); files saved after profiling with `thop` carry `total_ops`/`total_params` counters,
which `without_extras` drops.

`Arch` and `arch_of` are numpy-free and torch-free; torch is imported when a net is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.nets.layers import conv, norm, without
from sdhd_studio.ml.weights import Shape, check_shapes

HEADS = 4  # fixed in the original code, for both the spatial and the channel attentions
WINDOW = 8  # the original's default, for files without the position bias
ESA_MINIMUM = 15  # ESA's unpadded stride-2 3x3 convolution, then a 7x7 max pool
# Counters `thop` adds to every module, and the derived position index (never saved by the
# original code, harmless if a fork saves it): not weights.
_EXTRAS = ("total_ops", "total_params", "rel_pos_indices")
_BLOCK = "residual_layer.{g}.residual_layer.{b}.layer"


@dataclass(frozen=True)
class Arch:
    features: int
    groups: int  # OSAGs ("res_num")
    blocks: int  # OSA blocks in each group ("block_num")
    scale: int
    window: int = WINDOW
    pe: bool = True  # relative-position bias in the spatial attentions
    bias: bool = True  # biases on the outer convolutions and each group's closing one

    @property
    def title(self) -> str:
        return (f"OmniSR ({self.features} features, {self.groups}x{self.blocks} blocks, "
                f"window {self.window}, x{self.scale})")

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes."""
        f, esa, squeeze = self.features, max(self.features // 4, 16), self.features // 4
        shapes: dict[str, Shape] = {}
        shapes.update(conv("input", 3, f, 3, self.bias))
        shapes.update(conv("output", f, f, 3, self.bias))
        shapes.update(conv("up.0", f, 3 * self.scale**2, 3, self.bias))
        for g in range(self.groups):
            for b in range(self.blocks):
                layer = _BLOCK.format(g=g, b=b)
                shapes.update(conv(f"{layer}.0.fn.0", f, f, 1))
                shapes.update(conv(f"{layer}.0.fn.2", 1, f, 3))  # depthwise
                shapes[f"{layer}.0.fn.4.gate.1.weight"] = (squeeze, f)
                shapes[f"{layer}.0.fn.4.gate.3.weight"] = (f, squeeze)
                shapes.update(conv(f"{layer}.0.fn.5", f, f, 1))
                for i in (2, 8):  # spatial attention: block, grid
                    shapes.update(norm(f"{layer}.{i}.norm", f))
                    shapes[f"{layer}.{i}.fn.to_qkv.weight"] = (3 * f, f)
                    shapes[f"{layer}.{i}.fn.to_out.0.weight"] = (f, f)
                    if self.pe:
                        shapes[f"{layer}.{i}.fn.rel_pos_bias.weight"] = (
                            (2 * self.window - 1) ** 2, HEADS)
                for i in (5, 11):  # channel attention: block, grid
                    shapes.update(norm(f"{layer}.{i}.norm", f))
                    shapes[f"{layer}.{i}.fn.temperature"] = (HEADS, 1, 1)
                    shapes.update(conv(f"{layer}.{i}.fn.qkv", f, 3 * f, 1, False))
                    shapes.update(conv(f"{layer}.{i}.fn.qkv_dwconv", 1, 3 * f, 3, False))
                    shapes.update(conv(f"{layer}.{i}.fn.project_out", f, f, 1, False))
                for i in (4, 6, 10, 12):  # gated feed-forward
                    shapes.update(norm(f"{layer}.{i}.norm", f))
                    shapes.update(conv(f"{layer}.{i}.fn.project_in", f, 2 * f, 1, False))
                    shapes.update(conv(f"{layer}.{i}.fn.dwconv", 1, 2 * f, 3, False))
                    shapes.update(conv(f"{layer}.{i}.fn.project_out", f, f, 1, False))
            group = f"residual_layer.{g}"
            shapes.update(conv(f"{group}.residual_layer.{self.blocks}", f, f, 1, self.bias))
            for name, c_in, c_out, k in (("conv1", f, esa, 1), ("conv_f", esa, esa, 1),
                                         ("conv2", esa, esa, 3), ("conv3", esa, esa, 3),
                                         ("conv4", esa, f, 1)):
                shapes.update(conv(f"{group}.esa.{name}", c_in, c_out, k))
        return shapes


def is_omnisr(shapes: Mapping[str, Shape]) -> bool:
    return ("input.weight" in shapes and "up.0.weight" in shapes
            and "residual_layer.0.esa.conv1.weight" in shapes
            and f"{_BLOCK.format(g=0, b=0)}.0.fn.0.weight" in shapes)


def without_extras(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict without the entries that are not weights (`_EXTRAS`)."""
    return without(state, _EXTRAS)


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The OmniSR whose state dict has exactly these keys and shapes (less `without_extras`);
    BackendError if none."""
    shapes = without_extras(shapes)
    first, up = shapes["input.weight"], shapes["up.0.weight"]
    if len(first) != 4 or len(up) != 4:
        raise BackendError(f"{source}: input.weight is {first} and up.0.weight {up}: "
                           "not an OmniSR's convolutions")
    features, channels = first[:2]
    scale = math.isqrt(up[0] // 3)
    if channels != 3 or scale < 1 or 3 * scale**2 != up[0]:
        raise BackendError(f"{source}: an OmniSR taking {channels} channels to {up[0]}: "
                           "not an RGB upscaler")
    if features % HEADS:
        raise BackendError(f"{source}: an OmniSR of {features} features, not a multiple of "
                           f"its {HEADS} attention heads")
    blocks = _count(shapes, "residual_layer.0.residual_layer.") - 1  # less the closing conv
    bias_table = shapes.get(f"{_BLOCK.format(g=0, b=0)}.2.fn.rel_pos_bias.weight")
    window = (math.isqrt(bias_table[0]) + 1) // 2 if bias_table else WINDOW
    arch = Arch(features, _count(shapes, "residual_layer."), max(blocks, 1), scale, window,
                pe=bias_table is not None, bias="input.bias" in shapes)
    check_shapes(arch.shapes(), shapes, source, arch.title)
    return arch


def _count(shapes: Mapping[str, Shape], prefix: str) -> int:
    """How many numbered modules `prefix` has (its highest index + 1)."""
    indices = [key[len(prefix):].split(".", 1)[0] for key in shapes if key.startswith(prefix)]
    return max((int(i) + 1 for i in indices if i.isdigit()), default=0)


def build(arch: Arch) -> Any:
    """An OmniSR module for `arch` in eval mode: RGB 0..1 NCHW of any size in, x`scale` out."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    class LayerNorm2d(nn.Module):
        """Each pixel's channels normalised (eps 1e-6, the original's). In fp32 even for an
        fp16 input: a squared deviation over 256 overflows fp16."""

        def __init__(self, f: int) -> None:
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(f)), nn.Parameter(torch.zeros(f))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.float()
            y = y - y.mean(1, keepdim=True)
            y = y * torch.rsqrt(y.square().mean(1, keepdim=True) + 1e-6)
            return (y * self.weight[:, None, None] + self.bias[:, None, None]).to(x.dtype)

    class Residual(nn.Module):
        """fn(norm(x)) + x (MBConv's residual has no norm)."""

        def __init__(self, fn: nn.Module, norm: nn.Module | None = None) -> None:
            super().__init__()
            self.fn, self.norm = fn, norm or nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(self.norm(x)) + x

    class Mean(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3))

    class SqueezeExcitation(nn.Module):
        def __init__(self, f: int) -> None:
            super().__init__()
            self.gate = nn.Sequential(Mean(), nn.Linear(f, f // 4, bias=False), nn.SiLU(),
                                      nn.Linear(f // 4, f, bias=False), nn.Sigmoid())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gate(x)[:, :, None, None]

    def mbconv(f: int) -> nn.Module:
        """MaxViT's inverted bottleneck at expansion 1 (the indices are the original's)."""
        return Residual(nn.Sequential(
            nn.Conv2d(f, f, 1), nn.GELU(), nn.Conv2d(f, f, 3, padding=1, groups=f), nn.GELU(),
            SqueezeExcitation(f), nn.Conv2d(f, f, 1),
        ))

    class Windows(nn.Module):
        """NCHW <-> (batch, windows down, across, window pixels down, across, channels). A
        block window is w x w neighbours; a grid "window" is w pixels H/w apart (window index
        inside, pixel index outside). `back` undoes it."""

        def __init__(self, w: int, grid: bool, back: bool) -> None:
            super().__init__()
            self.w, self.grid, self.back = w, grid, back

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w = self.w
            if self.back:
                b, rows, cols, _, _, c = x.shape
                order = (0, 5, 3, 1, 4, 2) if self.grid else (0, 5, 1, 3, 2, 4)
                return x.permute(order).reshape(b, c, rows * w, cols * w)
            b, c, height, width = x.shape
            if self.grid:
                x = x.reshape(b, c, w, height // w, w, width // w).permute(0, 3, 5, 2, 4, 1)
            else:
                x = x.reshape(b, c, height // w, w, width // w, w).permute(0, 2, 4, 3, 5, 1)
            return x

    class Attention(nn.Module):
        """Multi-head self-attention among each window's w*w pixels, plus a learned bias by
        their relative position."""

        def __init__(self, f: int, w: int, pe: bool) -> None:
            super().__init__()
            self.to_qkv = nn.Linear(f, 3 * f, bias=False)
            self.to_out = nn.Sequential(nn.Linear(f, f, bias=False))
            if pe:
                self.rel_pos_bias = nn.Embedding((2 * w - 1) ** 2, HEADS)
                pos = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w),
                                                 indexing="ij")).flatten(1)  # (2, w*w)
                rel = pos[:, :, None] - pos[:, None, :] + w - 1  # (2, i, j), each 0..2w-2
                self.register_buffer("rel_pos_indices", rel[0] * (2 * w - 1) + rel[1],
                                     persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, rows, cols, w1, w2, c = x.shape
            qkv = self.to_qkv(x.reshape(-1, w1 * w2, c))
            q, k, v = qkv.view(-1, w1 * w2, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
            bias = None
            if hasattr(self, "rel_pos_bias"):  # (i, j, heads) -> (heads, i, j)
                bias = self.rel_pos_bias(self.rel_pos_indices).permute(2, 0, 1).to(q.dtype)
            out = functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            out = out.transpose(1, 2).reshape(-1, w1 * w2, c)  # heads outside, as split
            return self.to_out(out).view(b, rows, cols, w1, w2, c)

    class ChannelAttention(nn.Module):
        """Attention among the channels of each head, per window (`grid` False: over the
        window's pixels) or per position within the windows (`grid`: over that position in
        every window). Cosine similarity scaled by a learned temperature per head."""

        def __init__(self, f: int, w: int, grid: bool) -> None:
            super().__init__()
            self.w, self.grid = w, grid
            self.temperature = nn.Parameter(torch.ones(HEADS, 1, 1))
            self.qkv = nn.Conv2d(f, 3 * f, 1, bias=False)
            self.qkv_dwconv = nn.Conv2d(3 * f, 3 * f, 3, padding=1, groups=3 * f, bias=False)
            self.project_out = nn.Conv2d(f, f, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, height, width = x.shape
            w, rows, cols = self.w, height // self.w, width // self.w
            # (b, heads, d, rows, w, cols, w) -> (b, groups, heads, d, tokens)
            order = (0, 4, 6, 1, 2, 3, 5) if self.grid else (0, 3, 5, 1, 2, 4, 6)
            groups, tokens = (w * w, rows * cols) if self.grid else (rows * cols, w * w)

            def split(t: torch.Tensor) -> torch.Tensor:
                t = t.reshape(b, HEADS, c // HEADS, rows, w, cols, w).permute(order)
                return t.reshape(b, groups, HEADS, c // HEADS, tokens)

            q, k, v = (split(t) for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1))
            q, k = functional.normalize(q, dim=-1), functional.normalize(k, dim=-1)
            attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
            out = attn @ v
            unsplit = [order.index(i) for i in range(7)]
            permuted = [(b, HEADS, c // HEADS, rows, w, cols, w)[i] for i in order]
            out = out.reshape(permuted).permute(unsplit).reshape(b, c, height, width)
            return self.project_out(out)

    class GatedFeedForward(nn.Module):
        def __init__(self, f: int) -> None:
            super().__init__()
            self.project_in = nn.Conv2d(f, 2 * f, 1, bias=False)
            self.dwconv = nn.Conv2d(2 * f, 2 * f, 3, padding=1, groups=2 * f, bias=False)
            self.project_out = nn.Conv2d(f, f, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
            return self.project_out(functional.gelu(gate) * value)

    class OSABlock(nn.Module):
        """One omni self-attention block; the parameterless window moves sit at the indices
        the original's rearranges take (1, 3, 7, 9), so the weights' names match."""

        def __init__(self, f: int, w: int, pe: bool) -> None:
            super().__init__()

            def ffn() -> nn.Module:
                return Residual(GatedFeedForward(f), LayerNorm2d(f))

            def spatial() -> nn.Module:
                return Residual(Attention(f, w, pe), nn.LayerNorm(f))

            def channel(grid: bool) -> nn.Module:
                return Residual(ChannelAttention(f, w, grid), LayerNorm2d(f))

            self.layer = nn.Sequential(
                mbconv(f),
                Windows(w, grid=False, back=False), spatial(), Windows(w, grid=False, back=True),
                ffn(), channel(grid=False), ffn(),
                Windows(w, grid=True, back=False), spatial(), Windows(w, grid=True, back=True),
                ffn(), channel(grid=True), ffn(),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

    class ESA(nn.Module):
        """Enhanced spatial attention: a sigmoid mask from a strided, max-pooled (so coarse
        and wide) view of the features."""

        def __init__(self, e: int, f: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(f, e, 1)
            self.conv_f = nn.Conv2d(e, e, 1)
            self.conv2 = nn.Conv2d(e, e, 3, stride=2)
            self.conv3 = nn.Conv2d(e, e, 3, padding=1)
            self.conv4 = nn.Conv2d(e, f, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c1 = self.conv1(x)
            coarse = self.conv3(functional.max_pool2d(self.conv2(c1), 7, stride=3))
            coarse = functional.interpolate(coarse, x.shape[2:], mode="bilinear",
                                            align_corners=False)
            return x * torch.sigmoid(self.conv4(coarse + self.conv_f(c1)))

    class OSAG(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            f = arch.features
            self.residual_layer = nn.Sequential(
                *(OSABlock(f, arch.window, arch.pe) for _ in range(arch.blocks)),
                nn.Conv2d(f, f, 1, bias=arch.bias),
            )
            self.esa = ESA(max(f // 4, 16), f)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.esa(self.residual_layer(x) + x)

    class OmniSR(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            f, self.scale, self.window = arch.features, arch.scale, arch.window
            self.input = nn.Conv2d(3, f, 3, padding=1, bias=arch.bias)
            self.residual_layer = nn.Sequential(*(OSAG(arch) for _ in range(arch.groups)))
            self.output = nn.Conv2d(f, f, 3, padding=1, bias=arch.bias)
            self.up = nn.Sequential(nn.Conv2d(f, 3 * arch.scale**2, 3, padding=1, bias=arch.bias),
                                    nn.PixelShuffle(arch.scale))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = x.shape[2:]
            # Zeros (the original's padding) up to a multiple of the window, and to at least
            # what ESA needs (the original fails below that).
            least = -(-ESA_MINIMUM // self.window) * self.window

            def pad(n: int) -> int:
                return max(-(-n // self.window) * self.window, least) - n

            x = functional.pad(x, (0, pad(width), 0, pad(height)))
            features = self.input(x)
            out = self.output(self.residual_layer(features)) + features
            return self.up(out)[:, :, : height * self.scale, : width * self.scale]

    return OmniSR
