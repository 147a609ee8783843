"""HAT, the Hybrid Attention Transformer (Chen et al., "Activating More Pixels in Image
Super-Resolution Transformer", CVPR 2023), as community HAT, HAT-S and HAT-L files hold it
(the authors' key names, which spandrel keeps).

SwinIR's layout with two additions. Each block adds to its (shifted) window self-attention a
small convolution branch with channel attention (`conv_block`, weighed by a fixed 0.01); each
group of blocks ends with an overlapping cross-attention block (`overlap_attn`), whose queries
are the windows and whose keys and values come from larger windows around them. Groups are
residual; a pixel-shuffle head enlarges. The input is centred on a fixed RGB mean (not in the
files) and the output gets it back. The input is reflected up to a multiple of the window size
and the output cropped back, as the original does, so any size runs; the attention mask of the
shifted windows is made for the size at hand. The channel attention pools over the whole
picture, so a tile's output depends a little on the rest of the tile.

`Arch` and `arch_of` are numpy-free and torch-free; torch is imported when a net is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.nets.layers import DIV2K_MEAN, conv, linear, norm, without
from sdhd_studio.ml.nets.windows import merge, partition, relative_index, shifted_mask
from sdhd_studio.ml.weights import Shape, check_shapes

CONV_SCALE = 0.01  # the convolution branch's weight in each block, fixed in the original code
# Buffers that files carry but the net recomputes: relative position indices (which files of
# the original code hold) and SwinIR-style fixed-size attention masks (which some may).
INDEX_KEYS = ("relative_position_index_SA", "relative_position_index_OCA")
_MASK = "attn_mask"
_LAYER = "layers.{}.residual_group"


@dataclass(frozen=True)
class Arch:
    embed_dim: int  # features through the transformer
    depths: tuple[int, ...]  # blocks per residual group
    heads: tuple[int, ...]  # attention heads per residual group
    window: int  # self-attention window side
    overlap_window: int  # the cross-attention's key/value window side
    conv_features: int  # the convolution branch's middle width (embed_dim // compress_ratio)
    squeeze_features: int  # its channel attention's (embed_dim // squeeze_factor)
    mlp_features: int  # the MLPs' hidden width (embed_dim * mlp_ratio)
    features: int  # the reconstruction head's width (num_feat)
    scale: int  # 1 (restoration), 2, 3, 4, 8 ...
    qkv_bias: bool = True
    patch_norm: bool = True  # a LayerNorm on the tokens before the first group
    resi_connection: str = "1conv"  # a 3x3 convolution closing each group and the body;
    # or "identity": none

    @property
    def title(self) -> str:
        # spandrel's size tags: HAT-L has 12 groups; HAT-S a narrow convolution branch.
        size = ("-L" if len(self.depths) >= 9
                else "-S" if self.embed_dim > 4 * self.conv_features else "")
        return (f"HAT{size} ({self.embed_dim} features, {len(self.depths)} groups, "
                f"window {self.window}, x{self.scale})")

    @property
    def upsample_stages(self) -> list[int]:
        """Each pixel-shuffle stage's factor: x2 stages for a power of 2, one for x3."""
        if self.scale == 3:
            return [3]
        return [2] * int(math.log2(self.scale))

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes, as the original code saves it less the buffers
        the net makes itself (`without_extras`)."""
        c, w, ow = self.embed_dim, self.window, self.overlap_window
        shapes = conv("conv_first", 3, c, 3)
        if self.patch_norm:
            shapes.update(norm("patch_embed.norm", c))
        for i, (depth, heads) in enumerate(zip(self.depths, self.heads, strict=True)):
            group = _LAYER.format(i)
            for j in range(depth):
                block = f"{group}.blocks.{j}"
                shapes.update({
                    **norm(f"{block}.norm1", c),
                    f"{block}.attn.relative_position_bias_table": ((2 * w - 1) ** 2, heads),
                    **linear(f"{block}.attn.qkv", c, 3 * c, self.qkv_bias),
                    **linear(f"{block}.attn.proj", c, c),
                    **conv(f"{block}.conv_block.cab.0", c, self.conv_features, 3),
                    **conv(f"{block}.conv_block.cab.2", self.conv_features, c, 3),
                    **conv(f"{block}.conv_block.cab.3.attention.1", c, self.squeeze_features, 1),
                    **conv(f"{block}.conv_block.cab.3.attention.3", self.squeeze_features, c, 1),
                    **norm(f"{block}.norm2", c),
                    **_mlp(f"{block}.mlp", c, self.mlp_features),
                })
            cross = f"{group}.overlap_attn"
            shapes.update({
                **norm(f"{cross}.norm1", c),
                **linear(f"{cross}.qkv", c, 3 * c, self.qkv_bias),
                f"{cross}.relative_position_bias_table": ((w + ow - 1) ** 2, heads),
                **linear(f"{cross}.proj", c, c),
                **norm(f"{cross}.norm2", c),
                **_mlp(f"{cross}.mlp", c, self.mlp_features),
            })
            if self.resi_connection == "1conv":
                shapes.update(conv(f"layers.{i}.conv", c, c, 3))
        shapes.update(norm("norm", c))
        if self.resi_connection == "1conv":
            shapes.update(conv("conv_after_body", c, c, 3))
        shapes.update(conv("conv_before_upsample.0", c, self.features, 3))
        for k, factor in enumerate(self.upsample_stages):
            shapes.update(conv(f"upsample.{2 * k}", self.features, factor**2 * self.features, 3))
        shapes.update(conv("conv_last", self.features, 3, 3))
        return shapes


def _mlp(name: str, c: int, hidden: int) -> dict[str, Shape]:
    return {**linear(f"{name}.fc1", c, hidden), **linear(f"{name}.fc2", hidden, c)}


def is_hat(shapes: Mapping[str, Shape]) -> bool:
    """HAT's own parts: SwinIR (and its relatives) have the same layers and blocks, but neither
    the convolution branch in each block nor the cross-attention closing each group."""
    group = _LAYER.format(0)
    return (f"{group}.overlap_attn.qkv.weight" in shapes
            and f"{group}.blocks.0.conv_block.cab.0.weight" in shapes)


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The HAT whose state dict has exactly these keys and shapes (give or take the buffers
    the net recomputes); BackendError if none."""
    shapes = without_extras(shapes)
    block, cross = f"{_LAYER.format(0)}.blocks.0", f"{_LAYER.format(0)}.overlap_attn"
    needed = ("conv_first.weight", "conv_last.weight",
              f"{block}.attn.relative_position_bias_table", f"{block}.conv_block.cab.0.weight",
              f"{block}.conv_block.cab.3.attention.1.weight", f"{block}.mlp.fc1.weight",
              f"{cross}.relative_position_bias_table")
    if missing := [key for key in needed if len(shapes.get(key, ())) < 2]:
        raise BackendError(f"{source}: not a whole HAT: no {missing[0]}")
    if "absolute_pos_embed" in shapes:  # added to a fixed number of tokens: one input size
        raise BackendError(f"{source}: a HAT with an absolute position embedding runs at one "
                           "input size only; sdhd does not run it")
    embed_dim, channels = shapes["conv_first.weight"][:2]
    out_channels, features = shapes["conv_last.weight"][:2]
    if (channels, out_channels) != (3, 3):
        raise BackendError(f"{source}: a HAT taking {channels} channels to {out_channels}: "
                           "only RGB models run here")
    groups = _count(shapes, _LAYER + ".overlap_attn.qkv.weight")
    window = (math.isqrt(shapes[f"{block}.attn.relative_position_bias_table"][0]) + 1) // 2
    side = math.isqrt(shapes[f"{cross}.relative_position_bias_table"][0])
    arch = Arch(
        embed_dim=embed_dim,
        depths=tuple(_count(shapes, f"{_LAYER.format(i)}.blocks.{{}}.norm1.weight")
                     for i in range(groups)),
        heads=tuple(_dim(shapes, f"{_LAYER.format(i)}.overlap_attn.relative_position_bias_table",
                         1) for i in range(groups)),
        window=window,
        overlap_window=side - window + 1,
        conv_features=shapes[f"{block}.conv_block.cab.0.weight"][0],
        squeeze_features=shapes[f"{block}.conv_block.cab.3.attention.1.weight"][0],
        mlp_features=shapes[f"{block}.mlp.fc1.weight"][0],
        features=features,
        scale=_scale(shapes, features, source),
        qkv_bias=f"{block}.attn.qkv.bias" in shapes,
        patch_norm="patch_embed.norm.weight" in shapes,
        resi_connection="1conv" if "conv_after_body.weight" in shapes else "identity",
    )
    check_shapes(arch.shapes(), shapes, source, arch.title)
    if bad := [h for h in arch.heads if h < 1 or embed_dim % h]:
        raise BackendError(f"{source}: {bad[0]} heads do not divide {embed_dim} features")
    if arch.overlap_window < window or (arch.overlap_window - window) % 2:  # the original's
        # unfold would make another number of key windows than there are query windows
        raise BackendError(f"{source}: a {arch.overlap_window}-pixel overlapping window "
                           f"around a {window}-pixel one: the original code cannot run it")
    return arch


def without_extras(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict without the buffers the net makes itself: the relative position
    indices (fixed by the windows) and any fixed-size attention masks."""
    return without(state, (*INDEX_KEYS, _MASK))


def _dim(shapes: Mapping[str, Shape], key: str, axis: int) -> int:
    """A size of the tensor `key`, 0 when there is none (`check_shapes` then says so)."""
    shape = shapes.get(key, ())
    return shape[axis] if len(shape) > axis else 0


def _count(shapes: Mapping[str, Shape], pattern: str) -> int:
    """How many of pattern.format(0), pattern.format(1), ... are there, in a row."""
    n = 0
    while pattern.format(n) in shapes:
        n += 1
    return n


def _scale(shapes: Mapping[str, Shape], features: int, source: str) -> int:
    """The product of the pixel-shuffle stages (each a convolution to factor² x features;
    the pixel shuffles between them have no weights)."""
    widths = []
    while (key := f"upsample.{2 * len(widths)}.weight") in shapes:
        widths.append(shapes[key][0] / max(features, 1))
    if widths == [9]:
        return 3
    if any(width != 4 for width in widths):
        raise BackendError(f"{source}: a HAT whose upsampling stages widen by "
                           f"{', '.join(f'{w:g}' for w in widths)}: HAT's are x2 or one x3")
    return 2 ** len(widths)


def build(arch: Arch) -> Any:
    """A HAT module for `arch` in eval mode: RGB 0..1 NCHW in, about 0..1 at x`scale` out, any
    input size; load a file's state dict through `without_extras`."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    def windows(x: torch.Tensor, size: int) -> torch.Tensor:
        """b, h, w, c -> b, windows, size², c: `partition`, per picture as `attention` takes."""
        return partition(x, size, size).view(x.shape[0], -1, size * size, x.shape[-1])

    def merged(x: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
        """`windows` undone: b, windows, size², c -> b, h * w, c."""
        return merge(x.flatten(0, 1), size, size, h, w).reshape(x.shape[0], h * w, x.shape[-1])

    def heads_of(x: torch.Tensor, heads: int) -> torch.Tensor:
        """b, windows, n, c -> b, windows, heads, n, c / heads."""
        b, nw, n, c = x.shape
        return x.view(b, nw, n, heads, c // heads).transpose(2, 3)

    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                  bias: torch.Tensor) -> torch.Tensor:
        """Multi-head attention within each window, with an additive bias; b, windows, n, c."""
        out = functional.scaled_dot_product_attention(
            heads_of(q, heads), heads_of(k, heads), heads_of(v, heads), attn_mask=bias)
        return out.transpose(2, 3).flatten(3)

    def relative_index_oca(window: int, overlap: int) -> torch.Tensor:
        """The same for the cross-attention: queries in the window, keys in the overlapping
        window around it (offsets counted from the larger window's corner)."""
        qy, qx = (t.flatten() for t in torch.meshgrid(
            torch.arange(window), torch.arange(window), indexing="ij"))
        ky, kx = (t.flatten() for t in torch.meshgrid(
            torch.arange(overlap), torch.arange(overlap), indexing="ij"))
        shift = window - overlap + 1
        dy, dx = ky[None, :] - qy[:, None] + shift, kx[None, :] - qx[:, None] + shift
        return dy * (window + overlap - 1) + dx

    class Mlp(nn.Module):
        def __init__(self, c: int, hidden: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(c, hidden), nn.Linear(hidden, c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(functional.gelu(self.fc1(x)))

    class ChannelAttention(nn.Module):
        def __init__(self, c: int, squeezed: int) -> None:
            super().__init__()
            self.attention = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, squeezed, 1), nn.ReLU(),
                nn.Conv2d(squeezed, c, 1), nn.Sigmoid())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.attention(x)

    class CAB(nn.Module):
        """The convolution branch: 3x3 down to a narrow width and back, channel-weighed."""

        def __init__(self, arch: Arch) -> None:
            super().__init__()
            c, middle = arch.embed_dim, arch.conv_features
            self.cab = nn.Sequential(nn.Conv2d(c, middle, 3, padding=1), nn.GELU(),
                                     nn.Conv2d(middle, c, 3, padding=1),
                                     ChannelAttention(c, arch.squeeze_features))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.cab(x)

    class WindowAttention(nn.Module):
        def __init__(self, arch: Arch, heads: int) -> None:
            super().__init__()
            c, w = arch.embed_dim, arch.window
            self.heads = heads
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
            self.qkv = nn.Linear(c, 3 * c, bias=arch.qkv_bias)
            self.proj = nn.Linear(c, c)

        def forward(self, x: torch.Tensor, index: torch.Tensor,
                    mask: torch.Tensor | None) -> torch.Tensor:
            """b, windows, n, c -> the same; `mask` (windows, n, n) for shifted windows."""
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            n = x.shape[2]
            bias = self.relative_position_bias_table[index.view(-1)].view(n, n, -1)
            bias = bias.permute(2, 0, 1)  # heads, n, n
            if mask is not None:
                bias = bias + mask[:, None]  # windows, heads, n, n
            return self.proj(attention(q, k, v, self.heads, bias.to(x.dtype)))

    class HAB(nn.Module):
        """Hybrid attention block: (shifted) window attention plus the convolution branch,
        then an MLP."""

        def __init__(self, arch: Arch, heads: int, shift: int) -> None:
            super().__init__()
            c = arch.embed_dim
            self.window, self.shift = arch.window, shift
            self.norm1 = nn.LayerNorm(c)
            self.attn = WindowAttention(arch, heads)
            self.conv_block = CAB(arch)
            self.norm2 = nn.LayerNorm(c)
            self.mlp = Mlp(c, arch.mlp_features)

        def forward(self, x: torch.Tensor, size: tuple[int, int], index: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
            (h, w), (b, _, c) = size, x.shape
            y = self.norm1(x).view(b, h, w, c)
            conv = self.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, h * w, c)
            s = self.shift
            if s:
                y = torch.roll(y, (-s, -s), (1, 2))
            y = self.attn(windows(y, self.window), index, mask if s else None)
            y = merged(y, self.window, h, w)
            if s:
                y = torch.roll(y.view(b, h, w, c), (s, s), (1, 2)).reshape(b, h * w, c)
            x = x + y + conv * CONV_SCALE
            return x + self.mlp(self.norm2(x))

    class OCAB(nn.Module):
        """Overlapping cross-attention: each window's queries look at keys and values in the
        larger window centred on it."""

        def __init__(self, arch: Arch, heads: int) -> None:
            super().__init__()
            c, w, ow = arch.embed_dim, arch.window, arch.overlap_window
            self.window, self.overlap, self.heads = w, ow, heads
            self.norm1 = nn.LayerNorm(c)
            self.qkv = nn.Linear(c, 3 * c, bias=arch.qkv_bias)
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((w + ow - 1) ** 2, heads))
            self.proj = nn.Linear(c, c)
            self.norm2 = nn.LayerNorm(c)
            self.mlp = Mlp(c, arch.mlp_features)

        def forward(self, x: torch.Tensor, size: tuple[int, int],
                    index: torch.Tensor) -> torch.Tensor:
            (h, w), (b, _, c) = size, x.shape
            ow = self.overlap
            q, kv = self.qkv(self.norm1(x)).view(b, h, w, 3 * c).split((c, 2 * c), dim=-1)
            q = windows(q, self.window)
            # Keys and values of each ow x ow window centred on a query window (zeros beyond
            # the edges): unfold's columns are (k|v, channel, y, x), one per window.
            kv = functional.unfold(kv.permute(0, 3, 1, 2), ow, stride=self.window,
                                   padding=(ow - self.window) // 2)
            k, v = kv.view(b, 2, c, ow * ow, -1).permute(1, 0, 4, 3, 2)
            n = self.window**2
            bias = self.relative_position_bias_table[index.view(-1)].view(n, ow * ow, -1)
            y = attention(q, k, v, self.heads, bias.permute(2, 0, 1).to(x.dtype))
            x = x + self.proj(merged(y, self.window, h, w))
            return x + self.mlp(self.norm2(x))

    class AttenBlocks(nn.Module):
        def __init__(self, arch: Arch, depth: int, heads: int) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(
                HAB(arch, heads, shift=arch.window // 2 if j % 2 else 0) for j in range(depth))
            self.overlap_attn = OCAB(arch, heads)

        def forward(self, x: torch.Tensor, size: tuple[int, int], index_sa: torch.Tensor,
                    index_oca: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = block(x, size, index_sa, mask)
            return self.overlap_attn(x, size, index_oca)

    class RHAG(nn.Module):
        """Residual hybrid attention group: blocks, then a convolution over the picture."""

        def __init__(self, arch: Arch, depth: int, heads: int) -> None:
            super().__init__()
            c = arch.embed_dim
            self.residual_group = AttenBlocks(arch, depth, heads)
            self.conv = (nn.Conv2d(c, c, 3, padding=1) if arch.resi_connection == "1conv"
                         else nn.Identity())

        def forward(self, x: torch.Tensor, size: tuple[int, int], *extra: torch.Tensor
                    ) -> torch.Tensor:
            y = self.residual_group(x, size, *extra)
            b, _, c = y.shape
            y = self.conv(y.transpose(1, 2).reshape(b, c, *size))
            return y.flatten(2).transpose(1, 2) + x

    class PatchEmbed(nn.Module):
        """Pixels to tokens (patches of one pixel), optionally normalised."""

        def __init__(self, arch: Arch) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(arch.embed_dim) if arch.patch_norm else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(x.flatten(2).transpose(1, 2))

    class Upsample(nn.Sequential):
        def __init__(self, arch: Arch) -> None:
            f = arch.features
            super().__init__(*(layer for factor in arch.upsample_stages for layer in (
                nn.Conv2d(f, factor**2 * f, 3, padding=1), nn.PixelShuffle(factor))))

    def padded(x: torch.Tensor, multiple: int) -> torch.Tensor:
        """x reflected at the bottom and right up to a multiple of `multiple`, as the original
        does; a side too short for one reflection is reflected again (the original fails
        there), a 1-pixel side repeated."""
        while True:
            h, w = x.shape[-2:]
            pad_h, pad_w = -h % multiple, -w % multiple
            if not (pad_h or pad_w):
                return x
            if min(h, w) == 1:
                return functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            x = functional.pad(x, (0, min(pad_w, w - 1), 0, min(pad_h, h - 1)), mode="reflect")

    class HAT(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            c = arch.embed_dim
            self.arch = arch
            self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1),
                                 persistent=False)
            self.register_buffer(INDEX_KEYS[0], relative_index(arch.window, arch.window),
                                 persistent=False)
            self.register_buffer(INDEX_KEYS[1],
                                 relative_index_oca(arch.window, arch.overlap_window),
                                 persistent=False)
            self.conv_first = nn.Conv2d(3, c, 3, padding=1)
            self.patch_embed = PatchEmbed(arch)
            self.layers = nn.ModuleList(
                RHAG(arch, depth, heads) for depth, heads in zip(arch.depths, arch.heads,
                                                                  strict=True))
            self.norm = nn.LayerNorm(c)
            self.conv_after_body = (nn.Conv2d(c, c, 3, padding=1)
                                    if arch.resi_connection == "1conv" else nn.Identity())
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(c, arch.features, 3, padding=1), nn.LeakyReLU())
            self.upsample = Upsample(arch)
            self.conv_last = nn.Conv2d(arch.features, 3, 3, padding=1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            height, width = image.shape[-2:]
            mean = self.mean.to(image.dtype)
            x = padded(image - mean, self.arch.window)
            features = self.conv_first(x)
            x = self.conv_after_body(self.forward_features(features)) + features
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
            scale = self.arch.scale
            return (x + mean)[..., : height * scale, : width * scale]

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            b, c, h, w = x.shape
            window = self.arch.window
            mask = shifted_mask(h, w, window, window, x.device, x.dtype)
            tokens = self.patch_embed(x)
            for layer in self.layers:
                tokens = layer(tokens, (h, w), self.relative_position_index_SA,
                               self.relative_position_index_OCA, mask)
            return self.norm(tokens).transpose(1, 2).reshape(b, c, h, w)

    return HAT
