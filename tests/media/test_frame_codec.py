"""The lossless format rendered frames are stored in."""

import numpy as np
import pytest

from sdhd_studio.media.frame_codec import decode_frame, encode_frame


@pytest.mark.parametrize("shape", [(720, 1280, 3), (91, 161, 3), (36, 64, 4), (5, 7), (1, 1, 3)])
def test_round_trip_is_bit_exact(shape):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    back = decode_frame(encode_frame(image))
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.array_equal(back, image)


def test_smooth_frames_compress_well():
    # A gradient with fine texture, like an upscaled video frame: far below raw size.
    y, x = np.mgrid[0:720, 0:1280]
    image = np.dstack([(x // 5) % 256, (y // 3) % 256, ((x + y) // 8) % 256]).astype(np.uint8)
    data = encode_frame(image)
    assert len(data) < image.nbytes / 20
    assert np.array_equal(decode_frame(data), image)


def test_non_contiguous_views_are_stored_as_they_look():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = image[::2, ::-1]
    assert np.array_equal(decode_frame(encode_frame(view)), view)


def test_damage_is_a_value_error():
    data = encode_frame(np.full((32, 32, 3), 9, np.uint8))
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF
    for bad in (b"", b"garbage", data[:10], data[:-3], bytes(flipped), b"X" + data[1:]):
        with pytest.raises(ValueError):
            decode_frame(bad)


def test_only_8_bit_images_are_accepted():
    with pytest.raises(ValueError, match="cannot store"):
        encode_frame(np.zeros((4, 4, 3), np.uint16))
