"""Lossless storage format for rendered frames: a small header, then zstd of row differences.

Rendered frames are written once per render and read once per export, so encode speed is what
counts. On a 720p frame this codec takes ~13 ms to encode and ~11 ms to decode for ~1.2 MB,
where OpenCV's fastest useful PNG settings take ~32 ms and ~17 ms for ~1.35 MB (measured on
this project's 2-core CI machine). Subtracting each row from the one above (PNG's "up" filter)
turns smooth images into small numbers that zstd packs well; zstd's checksum makes any damage
detectable.
"""

from __future__ import annotations

import struct
import threading

import numpy as np
import zstandard

_MAGIC = b"SDHDFRM1"
_HEADER = struct.Struct("<8sIIB")  # magic, height, width, channels (0: a 2-D image)
_LEVEL = 1
_local = threading.local()  # zstd (de)compressor objects must not be shared between threads


def encode_frame(image: np.ndarray) -> bytes:
    """The bytes that store `image` (HxW or HxWxC uint8) exactly."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"cannot store an image of shape {image.shape} and type {image.dtype}")
    height, width = image.shape[:2]
    channels = 0 if image.ndim == 2 else image.shape[2]
    deltas = np.array(image, copy=True)
    np.subtract(image[1:], image[:-1], out=deltas[1:])  # wraps modulo 256, undone by cumsum
    header = _HEADER.pack(_MAGIC, height, width, channels)
    return header + _compressor().compress(deltas.tobytes())


def decode_frame(data: bytes) -> np.ndarray:
    """The image stored in `data`; ValueError if the bytes are not a complete, intact frame."""
    if len(data) < _HEADER.size:
        raise ValueError("the frame data is truncated")
    magic, height, width, channels = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("the data is not a stored frame")
    size = height * width * max(channels, 1)
    try:
        raw = _decompressor().decompress(data[_HEADER.size :], max_output_size=size)
    except zstandard.ZstdError as exc:
        raise ValueError(f"the frame data is damaged: {exc}") from None
    if len(raw) != size:
        raise ValueError("the frame data is damaged: wrong length")
    shape = (height, width) if channels == 0 else (height, width, channels)
    deltas = np.frombuffer(raw, np.uint8).reshape(shape)
    return np.cumsum(deltas, axis=0, dtype=np.uint8)


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)
    return _local.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor
