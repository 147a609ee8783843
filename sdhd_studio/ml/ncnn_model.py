"""Reading ncnn models (.param graph + .bin weights) into numpy, without ncnn itself.

The .param file is text: the magic 7767517, the layer and blob counts, then one line per
layer: type, name, input and output counts, the blob names, and `key=value` parameters
(a key of -23300-N holds array parameter N as `count,v1,v2,...`). The .bin file holds the
weighted layers' arrays back to back in layer order; a few arrays start with a 4-byte tag
saying how they are stored. Only the layer types Real-ESRGAN's ncnn models use are read;
anything else is refused rather than misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdhd_studio.core.errors import BackendError

MAGIC = 7767517
_FP16_TAG = 0x01306B47
_ARRAY_KEY_BASE = -23300
# Layers that carry no weights in the .bin file.
_WEIGHTLESS = frozenset({
    "Input", "Split", "Concat", "Interp", "PixelShuffle", "BinaryOp", "Eltwise",
    "ReLU", "Sigmoid", "Crop", "Noop",
})

ParamValue = int | float | tuple[int | float, ...]


@dataclass(frozen=True)
class Layer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]
    # Convolution: "weight" (out, in, kh, kw) and "bias" (out,); PReLU: "slope" (n,).
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def param(self, key: int, default: ParamValue = 0) -> ParamValue:
        return self.params.get(key, default)


@dataclass(frozen=True)
class NcnnModel:
    layers: tuple[Layer, ...]
    blob_count: int

    def of_type(self, layer_type: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.type == layer_type]

    @property
    def input_blob(self) -> str:
        return next(layer.outputs[0] for layer in self.layers if layer.type == "Input")

    @property
    def output_blob(self) -> str:
        return self.layers[-1].outputs[-1]


def load(param_path: str | Path, bin_path: str | Path | None = None) -> NcnnModel:
    """The model in `param_path` with its weights from `bin_path` (default: same name, .bin).

    BackendError when a file is missing, malformed, or holds a layer type this reader
    does not know, or when the weights do not fill the .bin file exactly.
    """
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else param_path.with_suffix(".bin")
    try:
        text = param_path.read_text()
        data = bin_path.read_bytes()
    except OSError as exc:
        raise BackendError(f"cannot read ncnn model: {exc}") from None
    layers, blob_count = parse_param(text, str(param_path))
    reader = _BinReader(data, str(bin_path))
    weighted = tuple(_with_weights(layer, reader) for layer in layers)
    if reader.offset != len(data):
        raise BackendError(
            f"{bin_path}: the layers use {reader.offset} bytes of {len(data)}; "
            "the .bin file does not match its .param file"
        )
    return NcnnModel(weighted, blob_count)


def parse_param(text: str, source: str = "<param>") -> tuple[list[Layer], int]:
    """The layers (without weights) and blob count of a .param file's text."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise BackendError(f"{source}: not an ncnn .param file (no magic {MAGIC})")
    try:
        layer_count, blob_count = (int(v) for v in lines[1])
    except (IndexError, ValueError):
        raise BackendError(f"{source}: second line must be the layer and blob counts") from None
    layers = [_parse_layer(fields, source) for fields in lines[2:]]
    if len(layers) != layer_count:
        raise BackendError(f"{source}: header says {layer_count} layers, found {len(layers)}")
    return layers, blob_count


def _parse_layer(fields: list[str], source: str) -> Layer:
    try:
        layer_type, name = fields[0], fields[1]
        n_in, n_out = int(fields[2]), int(fields[3])
        blobs = fields[4 : 4 + n_in + n_out]
        if len(blobs) != n_in + n_out:
            raise ValueError("missing blob names")
        params = dict(_parse_param(item) for item in fields[4 + n_in + n_out :])
    except (IndexError, ValueError) as exc:
        raise BackendError(f"{source}: bad layer line {' '.join(fields)!r}: {exc}") from None
    return Layer(layer_type, name, tuple(blobs[:n_in]), tuple(blobs[n_in:]), params)


def _parse_param(item: str) -> tuple[int, ParamValue]:
    key_text, sep, value = item.partition("=")
    if not sep:
        raise ValueError(f"expected key=value, got {item!r}")
    key = int(key_text)
    if key > _ARRAY_KEY_BASE:
        return key, _number(value)
    count, *values = value.split(",")
    if int(count) != len(values):
        raise ValueError(f"array {item!r} says {count} values, has {len(values)}")
    return _ARRAY_KEY_BASE - key, tuple(_number(v) for v in values)


def _number(text: str) -> int | float:
    # ncnn's own rule: a value with a '.' or an exponent is a float.
    return float(text) if any(c in text for c in ".eE") else int(text)


class _BinReader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.offset = 0

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), "<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        """An array led by a storage tag: fp16 (padded to 4 bytes) or, with tag 0, fp32."""
        tag = int(np.frombuffer(self._take(4), "<u4")[0])
        if tag == _FP16_TAG:
            raw = self._take((2 * count + 3) // 4 * 4)
            return np.frombuffer(raw[: 2 * count], "<f2").astype(np.float32)
        if tag == 0:
            return self.raw_fp32(count)
        raise BackendError(
            f"{self.source}: weights at byte {self.offset - 4} are stored as 0x{tag:08X}; "
            "only fp32 and fp16 are supported (not int8 or quantised tables)"
        )

    def _take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise BackendError(f"{self.source}: ends at byte {len(self.data)}, needed {end}")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk


def _with_weights(layer: Layer, reader: _BinReader) -> Layer:
    if layer.type in _WEIGHTLESS:
        return layer
    if layer.type == "Convolution":
        weights = _convolution(layer, reader)
    elif layer.type == "PReLU":
        weights = {"slope": reader.raw_fp32(int(layer.param(0, 0)))}
    else:
        raise BackendError(f"ncnn layer type {layer.type} ({layer.name}) is not supported")
    return Layer(layer.type, layer.name, layer.inputs, layer.outputs, layer.params, weights)


def _convolution(layer: Layer, reader: _BinReader) -> dict[str, np.ndarray]:
    out_ch, size = int(layer.param(0)), int(layer.param(6))
    kw = int(layer.param(1))
    kh = int(layer.param(11, kw))
    if layer.param(8) or layer.param(19):
        raise BackendError(f"{layer.name}: int8 or dynamic-weight convolutions are not supported")
    if not out_ch or size % (out_ch * kh * kw):
        raise BackendError(f"{layer.name}: {size} weights do not fit {out_ch}x?x{kh}x{kw}")
    weight = reader.tagged(size).reshape(out_ch, size // (out_ch * kh * kw), kh, kw)
    weights = {"weight": weight}
    if layer.param(5):
        weights["bias"] = reader.raw_fp32(out_ch)
    return weights
