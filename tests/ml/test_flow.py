"""Flow primitives on pictures with known motion: translations recovered at the scales the
settings allow, warps that undo them, and a forward-backward check that finds occlusions."""

import cv2
import numpy as np
import pytest

from sdhd_studio.ml import flow


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture (several octaves of noise), RGB uint8: DIS locks onto it."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for step in (2, 4, 8, 16):
        noise = rng.random((height // step + 3, width // step + 3, 3)).astype(np.float32)
        big = cv2.resize(noise, None, fx=step, fy=step, interpolation=cv2.INTER_CUBIC)
        out += big[:height, :width] * step
    out = (out - out.min()) / (out.max() - out.min())
    return (out * 220 + 18).astype(np.uint8)


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`image` moved by (dx, dy): content at (x, y) is found at (x + dx, y + dy)."""
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, move, image.shape[1::-1], flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def interior(array: np.ndarray, margin: int = 16) -> np.ndarray:
    return array[margin:-margin, margin:-margin]


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_translation_is_recovered(scale):
    a = texture(180, 320)
    b = shifted(a, 6.0, -3.5)
    motion = flow.estimate(a, b, scale)
    assert motion.shape == (180, 320, 2) and motion.dtype == np.float32
    assert np.median(interior(motion)[..., 0]) == pytest.approx(6.0, abs=0.25)
    assert np.median(interior(motion)[..., 1]) == pytest.approx(-3.5, abs=0.25)
    # Nearly everywhere, not just on average.
    error = np.hypot(interior(motion)[..., 0] - 6.0, interior(motion)[..., 1] + 3.5)
    assert np.percentile(error, 90) < 1.0


def test_identical_pictures_have_no_motion():
    a = texture(120, 200, seed=3)
    assert np.abs(flow.estimate(a, a.copy(), 0.5)).max() < 0.05


def test_warping_along_the_flow_undoes_the_motion():
    a = texture(180, 320, seed=1)
    b = shifted(a, -5.0, 2.0)
    back = flow.warp(b, flow.estimate(a, b, 1.0))  # a's pixel (x, y) fetched from b
    diff = np.abs(interior(back).astype(int) - interior(a)).mean()
    assert diff < 2.0  # grey levels; an unmoved b is ~20 away
    assert np.abs(interior(b).astype(int) - interior(a)).mean() > 10


def test_warp_accepts_a_flow_of_another_size():
    a = texture(90, 160, seed=2)
    small = np.zeros((45, 80, 2), np.float32)
    small[..., 0] = 2.0  # 2 px at half size is 4 px at full size
    warped = flow.warp(a, small)
    assert np.array_equal(warped[:, :-4], a[:, 4:])


def test_resize_flow_scales_the_offsets():
    field = np.zeros((10, 20, 2), np.float32)
    field[..., 0], field[..., 1] = 1.5, -2.0
    bigger = flow.resize_flow(field, (60, 20))
    assert bigger.shape == (20, 60, 2)
    assert np.allclose(bigger[..., 0], 4.5) and np.allclose(bigger[..., 1], -4.0)


def test_coarse_size_is_half_the_scale_and_never_tiny():
    assert flow.coarse_size((1280, 720), 0.5) == (320, 180)
    assert flow.coarse_size((1280, 720), 1.0) == (640, 360)
    assert flow.coarse_size((97, 61), 0.125) == (flow.MIN_SIDE, flow.MIN_SIDE)


def test_estimate_coarse_works_at_the_size_it_is_given():
    a = texture(180, 320, seed=4)
    b = shifted(a, 8.0, 0.0)
    size = flow.coarse_size((320, 180), 0.5)
    small = [cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (a, b)]
    for preset in (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST):
        motion = flow.estimate_coarse(*small, preset)
        assert motion.shape == (size[1], size[0], 2)
        assert np.median(motion[..., 0]) == pytest.approx(8.0 * size[0] / 320, abs=0.1)


def test_odd_and_tiny_sizes_work():
    for height, width in [(61, 97), (8, 8), (1, 1)]:
        a = texture(64, 100)[:height, :width].copy()
        assert flow.estimate(a, a, 0.5).shape == (height, width, 2)


def test_consistency_is_high_for_plain_motion_and_low_where_something_is_covered():
    # A textured square slides 24 px right over a static textured background: the strip of
    # background in front of it (in a) is covered in b and has no match there.
    background = texture(180, 320, seed=5)
    square = texture(60, 60, seed=6)
    a, b = background.copy(), background.copy()
    a[60:120, 100:160] = square
    b[60:120, 124:184] = square
    forward, backward = flow.estimate(a, b, 1.0), flow.estimate(b, a, 1.0)
    confidence = flow.consistency(forward, backward)
    assert confidence.shape == (180, 320) and confidence.dtype == np.float32
    covered = confidence[64:116, 164:180]  # background of a under the square in b
    background_far = confidence[10:50, 10:80]
    assert covered.mean() < 0.4
    assert background_far.mean() > 0.9
    translated = texture(180, 320, seed=7)
    moved = shifted(translated, 4.0, 1.0)
    plain = flow.consistency(flow.estimate(translated, moved, 0.5),
                             flow.estimate(moved, translated, 0.5))
    assert interior(plain).mean() > 0.9
