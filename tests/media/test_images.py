"""Masks and mask PNG bytes at the image boundary."""

import cv2
import numpy as np
import pytest

from sdhd_studio.core.errors import MediaError
from sdhd_studio.media.images import encode_png, read_mask


def _bgr_write(path, image):
    assert cv2.imwrite(str(path), image)
    return str(path)


def test_grey_rgb_and_rgba_masks(tmp_path):
    grey = np.zeros((36, 64), np.uint8)
    grey[10:20, 5:30] = 200
    expected = np.where(grey > 127, 255, 0).astype(np.uint8)
    assert np.array_equal(read_mask(_bgr_write(tmp_path / "g.png", grey), (64, 36)), expected)
    rgb = np.dstack([grey] * 3)
    assert np.array_equal(read_mask(_bgr_write(tmp_path / "c.png", rgb), (64, 36)), expected)
    rgba = np.zeros((36, 64, 4), np.uint8)  # black pixels; only alpha marks the region
    rgba[:, :, 3] = grey
    assert np.array_equal(read_mask(_bgr_write(tmp_path / "a.png", rgba), (64, 36)), expected)
    opaque = np.dstack([rgb, np.full((36, 64), 255, np.uint8)])
    assert np.array_equal(read_mask(_bgr_write(tmp_path / "o.png", opaque), (64, 36)), expected)


def test_wrong_size_and_non_images_are_rejected(tmp_path):
    path = _bgr_write(tmp_path / "m.png", np.zeros((240, 320), np.uint8))
    with pytest.raises(MediaError, match="mask is 320x240 but frames are 640x360"):
        read_mask(path, (640, 360))
    text = tmp_path / "m2.png"
    text.write_text("not an image")
    with pytest.raises(MediaError, match="not an image"):
        read_mask(str(text), (640, 360))
    with pytest.raises(MediaError, match="does not exist"):
        read_mask(str(tmp_path / "none.png"), (640, 360))


def test_png_bytes_are_a_normal_png_in_rgb_order():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    data = encode_png(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(bgr[..., ::-1], rgb)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(encode_png(grey), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, grey)
