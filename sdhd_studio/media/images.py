"""Still images at the media boundary: user masks and PNG bytes, converted to/from RGB."""

from __future__ import annotations

import os

import cv2
import numpy as np

from sdhd_studio.core.errors import MediaError

# Masks are small and written once per edit: OpenCV's fastest level is plenty.
_PNG_LEVEL = 1


def read_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """The mask at `path` as HxW uint8 with 255 where masked; `size` is the frame (width, height).

    A pixel is masked when its alpha is above 127 (for images with transparency) or otherwise
    when its luminance is above 127.
    """
    if not os.path.isfile(path):
        raise MediaError(f"mask {path} does not exist")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MediaError(f"mask {path} is not an image that can be read")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4 and image[:, :, 3].min() < 255:
        level = image[:, :, 3]
    elif image.ndim == 3:
        level = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY)
    else:
        level = image
    height, width = level.shape
    if (width, height) != tuple(size):
        raise MediaError(f"mask is {width}x{height} but frames are {size[0]}x{size[1]}")
    return np.where(level > 127, 255, 0).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (HxWx3), RGBA (HxWx4) or grey (HxW) uint8 image."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return data.tobytes()
