"""DAT, the Dual Aggregation Transformer (Chen et al., ICCV 2023), as the community's DAT,
DAT-S, DAT-2 and DAT-light files hold it.

A 3x3 convolution makes features; groups of blocks, each group closed by a convolution (or
three) and a skip, refine them; a pixel-shuffle tail makes the picture. The blocks alternate:
even ones attend inside windows (half the channels in h x w windows, the other half in w x h
ones, every other such block's windows shifted by half a window), odd ones attend across
channels over the whole picture. Each block also runs a depthwise convolution beside its
attention, and each branch weighs the other (a per-channel map from one, a per-position map
from the other). The input is centred on DIV2K's mean and the mean added back at the end.

Any picture size runs as the original runs it: each window attention pads its queries, keys
and values with zeros, at the bottom and right, up to whole windows (of the longer side), and
crops its result back; the shifted windows' masks are made for that padded size. (The zero
keys take part in the softmax, as in the original, so padding the picture outside instead
would change the result at its bottom and right edges.) The channel attention and the
interaction's channel map average over the whole input, so a tile's result depends slightly on
the rest of the tile: tiles need an overlap, as for any net.

Files carry three buffers besides the weights. `rpe_biases` and `relative_position_index` are
fixed by the window; they stay in the state dict (and must hold this net's windows, which
tells a file's window height from its width: the shapes cannot). Each shifted block's
`attn_mask_0`/`attn_mask_1` are fixed by the training crop's size; they are made for the
picture at hand instead, so `weights` drops them.

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

TAILS = ("pixelshuffle", "pixelshuffledirect")
_MASKS = ("attn_mask_0", "attn_mask_1")
_FIRST = "layers.0.blocks.0."


@dataclass(frozen=True)
class Arch:
    embed_dim: int
    depths: tuple[int, ...]  # blocks in each group
    heads: tuple[int, ...]  # attention heads in each group (the windows get half each)
    window: tuple[int, int]  # height and width of the first half of the channels' windows
    ffn_hidden: int  # the feed-forward's first layer's width
    tail: str  # one of TAILS
    scale: int
    features: int = 64  # the pixelshuffle tail's width
    three_convs: bool = False  # each group (and the body) closes with 3 convolutions
    qkv_bias: bool = True

    @property
    def title(self) -> str:
        h, w = self.window
        return (f"DAT ({len(self.depths)} groups, {self.embed_dim} dims, {h}x{w} windows, "
                f"x{self.scale})")

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes, without the attention masks (see the module's
        docstring)."""
        e, hidden = self.embed_dim, self.ffn_hidden
        shapes = {**conv("conv_first", 3, e, 3), **norm("before_RG.1", e)}
        for layer, (depth, heads) in enumerate(zip(self.depths, self.heads, strict=True)):
            for block in range(depth):
                name = f"layers.{layer}.blocks.{block}"
                shapes.update(norm(f"{name}.norm1", e))
                shapes.update(self._attention(f"{name}.attn", heads, spatial=block % 2 == 0))
                shapes.update(norm(f"{name}.norm2", e))
                shapes.update(linear(f"{name}.ffn.fc1", e, hidden))
                shapes.update(norm(f"{name}.ffn.sg.norm", hidden // 2))
                shapes.update(conv(f"{name}.ffn.sg.conv", 1, hidden // 2, 3))
                shapes.update(linear(f"{name}.ffn.fc2", hidden // 2, e))
            shapes.update(closing(f"layers.{layer}.conv", e, self.three_convs))
        shapes.update(norm("norm", e))
        shapes.update(closing("conv_after_body", e, self.three_convs))
        if self.tail == "pixelshuffle":
            f = self.features
            shapes.update(conv("conv_before_upsample.0", e, f, 3))
            for index, factor in enumerate(_factors(self.scale)):
                shapes.update(conv(f"upsample.{2 * index}", f, factor**2 * f, 3))
            shapes.update(conv("conv_last", f, 3, 3))
        else:
            shapes.update(conv("upsample.0", e, 3 * self.scale**2, 3))
        return shapes

    def _attention(self, name: str, heads: int, spatial: bool) -> dict[str, Shape]:
        e = self.embed_dim
        shapes = {f"{name}.qkv.weight": (3 * e, e), **linear(f"{name}.proj", e, e)}
        if self.qkv_bias:
            shapes[f"{name}.qkv.bias"] = (3 * e,)
        shapes.update(conv(f"{name}.dwconv.0", 1, e, 3))  # depthwise
        shapes.update(_batch_norm(f"{name}.dwconv.1", e))
        shapes.update(conv(f"{name}.channel_interaction.1", e, e // 8, 1))
        shapes.update(_batch_norm(f"{name}.channel_interaction.2", e // 8))
        shapes.update(conv(f"{name}.channel_interaction.4", e // 8, e, 1))
        shapes.update(conv(f"{name}.spatial_interaction.0", e, e // 16, 1))
        shapes.update(_batch_norm(f"{name}.spatial_interaction.1", e // 16))
        shapes.update(conv(f"{name}.spatial_interaction.3", e // 16, 1, 1))
        if not spatial:
            shapes[f"{name}.temperature"] = (heads, 1, 1)
            return shapes
        h, w = self.window
        p = _bias_width(e)
        for branch in (0, 1):
            pos = f"{name}.attns.{branch}.pos"
            shapes.update(linear(f"{pos}.pos_proj", 2, p))
            for step in ("pos1", "pos2", "pos3"):
                shapes.update(norm(f"{pos}.{step}.0", p))
                shapes.update(linear(f"{pos}.{step}.2", p, heads // 2 if step == "pos3" else p))
            shapes[f"{name}.attns.{branch}.rpe_biases"] = ((2 * h - 1) * (2 * w - 1), 2)
            shapes[f"{name}.attns.{branch}.relative_position_index"] = (h * w, h * w)
        return shapes


def _bias_width(embed_dim: int) -> int:
    """The position bias net's width: the original quarters a window branch's width twice."""
    return embed_dim // 2 // 4 // 4


def _batch_norm(name: str, c: int) -> dict[str, Shape]:
    return {**norm(name, c), f"{name}.running_mean": (c,), f"{name}.running_var": (c,),
            f"{name}.num_batches_tracked": ()}


def _factors(scale: int) -> list[int]:
    """The pixel-shuffle steps of the pixelshuffle tail: x2 steps, or one x3 (none for x1)."""
    return [3] if scale == 3 else [2] * (scale.bit_length() - 1)


def is_dat(shapes: Mapping[str, Shape]) -> bool:
    """DAT's blocks: SwinIR and HAT nest theirs under `residual_group` and have no
    `before_RG`; RGT, from DAT's authors, has `before_RG` but an `mlp`, not a gated `ffn`."""
    return ("before_RG.1.weight" in shapes and f"{_FIRST}ffn.sg.conv.weight" in shapes
            and f"{_FIRST}attn.attns.0.pos.pos_proj.weight" in shapes)


def without_extras(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state without the attention masks, which the net makes for each picture size."""
    return without(state, _MASKS)


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The DAT whose state dict has exactly these keys and shapes (besides the masks);
    BackendError if none."""
    shapes = without_extras(shapes)
    first = shapes.get("conv_first.weight", ())
    if len(first) != 4:
        raise BackendError(f"{source}: a DAT without its first convolution (conv_first)")
    embed_dim, channels = first[:2]
    if channels != 3:
        raise BackendError(f"{source}: a DAT for {channels}-channel pictures; only RGB models "
                           "run here")
    window = _window(shapes, source)
    depths, heads = [], []
    while f"layers.{len(depths)}.blocks.0.norm1.weight" in shapes:
        layer = len(depths)
        depth = 0
        while f"layers.{layer}.blocks.{depth}.norm1.weight" in shapes:
            depth += 1
        depths.append(depth)
        # The channel blocks have all the heads; the window ones half each (so a group of
        # one block tells an even count only, which is all it uses).
        group = f"layers.{layer}.blocks"
        heads.append(_rows(shapes, f"{group}.1.attn.temperature")
                     or 2 * _rows(shapes, f"{group}.0.attn.attns.0.pos.pos3.2.weight"))
    tail, scale, features = _tail(shapes, source)
    arch = Arch(embed_dim, tuple(depths), tuple(heads), window,
                _rows(shapes, f"{_FIRST}ffn.fc1.weight"), tail, scale, features,
                three_convs="conv_after_body.0.weight" in shapes,
                qkv_bias=f"{_FIRST}attn.qkv.bias" in shapes)
    check_shapes(arch.shapes(), shapes, source, arch.title)
    if embed_dim % 2 or arch.ffn_hidden % 2 or any(
        h < 2 or (embed_dim // 2) % (h // 2) or embed_dim % h for h in heads
    ):
        raise BackendError(f"{source}: {embed_dim} dims and a {arch.ffn_hidden}-wide "
                           f"feed-forward do not split into halves and {list(heads)} heads")
    return arch


def _rows(shapes: Mapping[str, Shape], key: str) -> int:
    """The first dimension of `key`'s tensor; 0 when there is none (`check_shapes` says why)."""
    return (tuple(shapes.get(key, ())) or (0,))[0]


def _window(shapes: Mapping[str, Shape], source: str) -> tuple[int, int]:
    """The window's (height, width): its area and the bias table's size, (2h-1)(2w-1), give
    both sides but not which is which; published DATs are wider than tall (8x16, 8x32), so
    the shorter is taken as the height (the net checks the file's tables when it loads)."""
    name = f"{_FIRST}attn.attns.0."
    if f"{name}rpe_biases" not in shapes or f"{name}relative_position_index" not in shapes:
        raise BackendError(f"{source}: a DAT without its windows' position tables "
                           "(rpe_biases, relative_position_index)")
    area = _rows(shapes, f"{name}relative_position_index")
    table = _rows(shapes, f"{name}rpe_biases")
    sides = (4 * area + 1 - table) // 2  # h + w
    root = math.isqrt(max(sides * sides - 4 * area, 0))
    h, w = (sides - root) // 2, (sides + root) // 2
    if h < 1 or h * w != area or (2 * h - 1) * (2 * w - 1) != table:
        raise BackendError(f"{source}: DAT position tables of {area} and {table} rows fit no "
                           "window")
    return h, w


def _tail(shapes: Mapping[str, Shape], source: str) -> tuple[str, int, int]:
    """(tail, scale, its width) from the keys the two tails have."""
    if "conv_before_upsample.0.weight" in shapes:
        features = max(_rows(shapes, "conv_before_upsample.0.weight"), 1)
        scale = 1
        for index in range(0, 6, 2):
            if f"upsample.{index}.weight" in shapes:
                scale *= math.isqrt(_rows(shapes, f"upsample.{index}.weight") // features)
        return "pixelshuffle", scale, features
    if "upsample.0.weight" in shapes:  # one convolution to 3 x scale^2 channels, shuffled
        return "pixelshuffledirect", max(math.isqrt(_rows(shapes, "upsample.0.weight") // 3), 1), 64
    raise BackendError(f"{source}: a DAT with no tail (conv_before_upsample or upsample)")


def build(arch: Arch) -> Any:
    """A DAT module for `arch` in eval mode, taking any picture size (RGB 0..1, NCHW); load
    `without_extras(state)` into it."""
    return _class()(arch).eval()


@functools.cache
def _class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional

    def norm_act_linear(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.LayerNorm(c_in), nn.ReLU(), nn.Linear(c_in, c_out))

    class DynamicPosBias(nn.Module):
        """A small net mapping each (dy, dx) offset inside a window to a bias per head."""

        def __init__(self, width: int, heads: int) -> None:
            super().__init__()
            self.pos_proj = nn.Linear(2, width)
            self.pos1, self.pos2 = norm_act_linear(width, width), norm_act_linear(width, width)
            self.pos3 = norm_act_linear(width, heads)

        def forward(self, offsets: torch.Tensor) -> torch.Tensor:
            return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))

    class WindowAttention(nn.Module):
        """Attention inside h x w windows over (B, H, W, C) queries, keys and values whose H
        and W are whole windows."""

        def __init__(self, c: int, heads: int, h: int, w: int) -> None:
            super().__init__()
            self.heads, self.h, self.w = heads, h, w
            self.scale = (c // heads) ** -0.5
            self.pos = DynamicPosBias(_bias_width(2 * c), heads)
            dy, dx = torch.meshgrid(torch.arange(1 - h, h), torch.arange(1 - w, w), indexing="ij")
            self.register_buffer("rpe_biases", torch.stack([dy.flatten(), dx.flatten()], 1).float())
            self.register_buffer("relative_position_index", relative_index(h, w))
            self.register_load_state_dict_pre_hook(self._check_tables)

        def _check_tables(self, _module: nn.Module, state: Mapping[str, Any], prefix: str,
                          *args: Any) -> None:
            """A file whose tables are for w x h windows (same shapes) would load into h x w
            ones and attend wrongly: refused instead (torch raises the message)."""
            errors = args[-1]
            for name in ("rpe_biases", "relative_position_index"):
                value = state.get(prefix + name)
                if value is not None and value.shape == getattr(self, name).shape and not (
                    torch.equal(value.to(getattr(self, name)), getattr(self, name))
                ):
                    errors.append(f"{prefix}{name} is not the table of {self.h}x{self.w} "
                                  "windows (windows taller than wide are not supported)")

        def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    mask: torch.Tensor | None) -> torch.Tensor:
            b, height, width, c = q.shape
            h, w, n = self.h, self.w, self.h * self.w

            def heads(x: torch.Tensor) -> torch.Tensor:
                return partition(x, h, w).view(-1, n, self.heads, c // self.heads).transpose(1, 2)

            attn = (heads(q) * self.scale) @ heads(k).transpose(-2, -1)
            bias = self.pos(self.rpe_biases)[self.relative_position_index.view(-1)]
            attn = attn + bias.view(n, n, -1).permute(2, 0, 1)
            if mask is not None:  # one per window, the same in every picture of the batch
                attn = (attn.view(b, -1, self.heads, n, n) + mask[:, None]).view(
                    -1, self.heads, n, n)
            out = (attn.softmax(-1) @ heads(v)).transpose(1, 2).reshape(-1, n, c)
            return merge(out, h, w, height, width)

    class Interaction(nn.Module):
        """What both kinds of block share: the projections, a depthwise convolution beside
        the attention, and the maps by which each branch weighs the other."""

        def __init__(self, c: int, qkv_bias: bool) -> None:
            super().__init__()
            self.qkv, self.proj = nn.Linear(c, 3 * c, bias=qkv_bias), nn.Linear(c, c)
            self.dwconv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c),
                                        nn.BatchNorm2d(c), nn.GELU())
            self.channel_interaction = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 8, 1), nn.BatchNorm2d(c // 8),
                nn.GELU(), nn.Conv2d(c // 8, c, 1))
            self.spatial_interaction = nn.Sequential(
                nn.Conv2d(c, c // 16, 1), nn.BatchNorm2d(c // 16), nn.GELU(),
                nn.Conv2d(c // 16, 1, 1))

    class SpatialAttention(Interaction):
        """Half the channels in h x w windows, half in w x h ones; the convolution branch's
        channel map weighs the attention, the attention's spatial map the convolution."""

        def __init__(self, arch: Arch, heads: int, shifted: bool) -> None:
            super().__init__(arch.embed_dim, arch.qkv_bias)
            h, w = arch.window
            c = arch.embed_dim // 2
            self.attns = nn.ModuleList([WindowAttention(c, heads // 2, h, w),
                                        WindowAttention(c, heads // 2, w, h)])
            self.shifted = shifted

        def forward(self, x: torch.Tensor, masks: tuple[torch.Tensor, ...]) -> torch.Tensor:
            b, height, width, c = x.shape
            qkv = self.qkv(x).view(b, height, width, 3, c)
            v = qkv[..., 2, :].permute(0, 3, 1, 2)
            # Zeros at the bottom and right up to whole windows of the longer side (both
            # branches' windows then fit), as the original pads.
            m = max(self.attns[0].h, self.attns[0].w)
            qkv = functional.pad(qkv, (0, 0, 0, 0, 0, -width % m, 0, -height % m))
            halves = []
            for branch, attn in enumerate(self.attns):
                q, k, v_ = qkv[..., branch * c // 2:(branch + 1) * c // 2].unbind(3)
                if not self.shifted:
                    out = attn(q, k, v_, None)
                else:  # by half a window up and left, and back
                    shift = (attn.h // 2, attn.w // 2)
                    q, k, v_ = (torch.roll(t, (-shift[0], -shift[1]), (1, 2)) for t in (q, k, v_))
                    out = torch.roll(attn(q, k, v_, masks[branch]), shift, (1, 2))
                halves.append(out[:, :height, :width])
            attended = torch.cat(halves, -1)
            conv = self.dwconv(v)
            channel_map = self.channel_interaction(conv).permute(0, 2, 3, 1)  # (B, 1, 1, C)
            spatial_map = self.spatial_interaction(attended.permute(0, 3, 1, 2))  # (B, 1, H, W)
            attended = attended * torch.sigmoid(channel_map)
            conv = (torch.sigmoid(spatial_map) * conv).permute(0, 2, 3, 1)
            return self.proj(attended + conv)

    class ChannelAttention(Interaction):
        """Attention between channels over the whole picture (each head's queries and keys
        normalised, scaled by a learned temperature); here the attention's channel map
        weighs the convolution, the convolution's spatial map the attention."""

        def __init__(self, arch: Arch, heads: int) -> None:
            super().__init__(arch.embed_dim, arch.qkv_bias)
            self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

        def forward(self, x: torch.Tensor, _masks: tuple[torch.Tensor, ...]) -> torch.Tensor:
            b, height, width, c = x.shape
            heads = self.temperature.shape[0]
            # (3, B, heads, C / heads, H * W): each head's channels, over all positions.
            q, k, v = self.qkv(x).view(b, -1, 3, heads, c // heads).permute(2, 0, 3, 4, 1)
            q, k = functional.normalize(q, dim=-1), functional.normalize(k, dim=-1)
            attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(-1)
            attended = (attn @ v).permute(0, 3, 1, 2).reshape(b, height, width, c)
            conv = self.dwconv(v.reshape(b, c, height, width))
            channel_map = self.channel_interaction(attended.permute(0, 3, 1, 2))  # (B, C, 1, 1)
            spatial_map = self.spatial_interaction(conv).permute(0, 2, 3, 1)  # (B, H, W, 1)
            attended = attended * torch.sigmoid(spatial_map)
            conv = (conv * torch.sigmoid(channel_map)).permute(0, 2, 3, 1)
            return self.proj(attended + conv)

    class SpatialGate(nn.Module):
        """Half the features times the other half, normalised and convolved depthwise."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.norm, self.conv = nn.LayerNorm(c), nn.Conv2d(c, c, 3, padding=1, groups=c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x1, x2 = x.chunk(2, -1)
            return x1 * self.conv(self.norm(x2).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    class FeedForward(nn.Module):
        def __init__(self, c: int, hidden: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(c, hidden), nn.Linear(hidden // 2, c)
            self.sg = SpatialGate(hidden // 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.sg(functional.gelu(self.fc1(x))))

    class Block(nn.Module):
        def __init__(self, arch: Arch, heads: int, group: int, index: int) -> None:
            super().__init__()
            e = arch.embed_dim
            self.norm1, self.norm2 = nn.LayerNorm(e), nn.LayerNorm(e)
            if index % 2:
                self.attn: nn.Module = ChannelAttention(arch, heads)
            else:  # shifted in blocks 2, 6, 10 ... of even groups, 0, 4, 8 ... of odd ones
                shifted = index % 4 == (2 if group % 2 == 0 else 0)
                self.attn = SpatialAttention(arch, heads, shifted)
            self.ffn = FeedForward(e, arch.ffn_hidden)

        def forward(self, x: torch.Tensor, masks: tuple[torch.Tensor, ...]) -> torch.Tensor:
            x = x + self.attn(self.norm1(x), masks)
            return x + self.ffn(self.norm2(x))

    class ResidualGroup(nn.Module):
        """Blocks over (B, H, W, C) tokens, then a convolution, plus the group's input."""

        def __init__(self, arch: Arch, group: int) -> None:
            super().__init__()
            depth, heads = arch.depths[group], arch.heads[group]
            self.blocks = nn.ModuleList(Block(arch, heads, group, i) for i in range(depth))
            self.conv = closing_module(arch.embed_dim, arch.three_convs)

        def forward(self, x: torch.Tensor, masks: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return run_group(self.blocks, self.conv, x, masks)

    class DAT(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            self.arch = arch
            e, f = arch.embed_dim, arch.features
            self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1),
                                 persistent=False)
            self.conv_first = nn.Conv2d(3, e, 3, padding=1)
            # Index 0 was the original's reshape to tokens; the layer norm keeps its key.
            self.before_RG = nn.Sequential(nn.Identity(), nn.LayerNorm(e))
            self.layers = nn.ModuleList(ResidualGroup(arch, g) for g in range(len(arch.depths)))
            self.shifted = any(isinstance(m, SpatialAttention) and m.shifted
                               for m in self.modules())
            self.norm = nn.LayerNorm(e)
            self.conv_after_body = closing_module(e, arch.three_convs)
            if arch.tail == "pixelshuffle":
                self.conv_before_upsample = nn.Sequential(nn.Conv2d(e, f, 3, padding=1),
                                                          nn.LeakyReLU(0.01))
                steps: list[nn.Module] = []
                for factor in _factors(arch.scale):
                    steps += [nn.Conv2d(f, factor**2 * f, 3, padding=1), nn.PixelShuffle(factor)]
                self.upsample = nn.Sequential(*steps)
                self.conv_last = nn.Conv2d(f, 3, 3, padding=1)
            else:
                self.upsample = nn.Sequential(nn.Conv2d(e, 3 * arch.scale**2, 3, padding=1),
                                              nn.PixelShuffle(arch.scale))

        def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            """The shifted windows' masks of both branches, for `x` padded to whole windows."""
            h, w = self.arch.window
            m = max(h, w)
            height, width = x.shape[2] + -x.shape[2] % m, x.shape[3] + -x.shape[3] % m
            return (shifted_mask(height, width, h, w, x.device, x.dtype),
                    shifted_mask(height, width, w, h, x.device, x.dtype))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x - self.mean  # the original's img_range is 1
            features = self.conv_first(x)
            tokens = self.before_RG(features.permute(0, 2, 3, 1))
            masks = self.masks(x) if self.shifted else ()
            for layer in self.layers:
                tokens = layer(tokens, masks)
            deep = self.conv_after_body(self.norm(tokens).permute(0, 3, 1, 2)) + features
            if self.arch.tail == "pixelshuffle":
                out = self.conv_last(self.upsample(self.conv_before_upsample(deep)))
            else:
                out = self.upsample(deep)
            return out + self.mean

    return DAT
