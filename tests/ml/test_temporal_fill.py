"""Temporal fill on a panning textured background with a burnt-in logo at a fixed place."""

import cv2
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.media.quality import psnr
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.temporal_fill import TemporalFillInpainter

SIZE = (320, 192)  # (width, height)
PAN = (4.6, 1.7)  # px a frame, so the logo's 30 px are seen behind within 4 frames each way
LOGO = (slice(80, 106), slice(140, 170))
SETTINGS = {"fill_frames": 8, "flow_scale": 0.5, "inpaint_radius": 3}


def _texture(seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = cv2.resize(rng.uniform(0, 255, (height // 16 + 1, width // 16 + 1, 3)), size,
                        interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 40, (height, width, 3)), (0, 0), 1.0)
    return np.clip(0.6 * coarse + fine + 50, 0, 255).astype(np.float32)


WORLD = _texture(1, (SIZE[0] + 100, SIZE[1] + 100))
MASK = np.zeros(SIZE[::-1], np.uint8)
MASK[LOGO] = 255
HOLE = MASK > 0


def frame(t: int, world: np.ndarray = WORLD) -> tuple[np.ndarray, np.ndarray]:
    """(picture with the logo, the background without it) of frame t of the pan."""
    move = np.float32([[1, 0, -(40 + PAN[0] * t)], [0, 1, -(40 + PAN[1] * t)]])
    background = np.clip(cv2.warpAffine(world, move, SIZE), 0, 255).astype(np.uint8)
    picture = background.copy()
    picture[LOGO] = (235, 225, 40)
    cv2.putText(picture, "TV", (142, 101), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 20, 20), 2)
    return picture, background


def neighbours(offsets, world: np.ndarray = WORLD):
    return [(t, frame(t, world)[0], MASK) for t in offsets]


def telea(picture: np.ndarray) -> np.ndarray:
    return cv2.inpaint(picture, MASK, SETTINGS["inpaint_radius"], cv2.INPAINT_TELEA)


def fill(picture, nearby, settings=SETTINGS):
    return TemporalFillInpainter().inpaint(picture, MASK, settings, CancelToken(), nearby)


def test_nearby_frames_show_what_the_logo_hides():
    picture, truth = frame(0)
    out = fill(picture, neighbours([1, -1, 2, -2, 3, -3, 4, -4]))
    assert psnr(out[HOLE], truth[HOLE]) > psnr(telea(picture)[HOLE], truth[HOLE]) + 10
    np.testing.assert_array_equal(out[~HOLE], picture[~HOLE])


def test_frames_on_one_side_fill_what_they_see_and_telea_the_rest():
    picture, truth = frame(0)
    out = fill(picture, neighbours([1, 2, 3, 4]))
    assert psnr(out[HOLE], truth[HOLE]) > psnr(telea(picture)[HOLE], truth[HOLE]) + 5
    np.testing.assert_array_equal(out[~HOLE], picture[~HOLE])


def test_without_neighbours_it_is_telea():
    picture, _ = frame(0)
    np.testing.assert_array_equal(fill(picture, []), telea(picture))


def test_a_neighbour_across_a_cut_is_not_used():
    picture, _ = frame(0)
    elsewhere = neighbours([1], _texture(2, WORLD.shape[1::-1]))
    np.testing.assert_array_equal(fill(picture, elsewhere), telea(picture))


def test_neighbours_further_than_fill_frames_are_not_used():
    picture, _ = frame(0)
    out = fill(picture, neighbours([3, -3, 4, -4]), {**SETTINGS, "fill_frames": 2})
    np.testing.assert_array_equal(out, telea(picture))


def test_a_neighbour_without_the_logo_shows_all_of_it():
    picture, truth = frame(0)
    out = fill(picture, [(1, frame(1)[1], np.zeros_like(MASK))])
    assert psnr(out[HOLE], truth[HOLE]) > 30


def test_registered_as_a_temporal_inpainter():
    spec = registry.get("inpaint", "temporal-fill")
    assert spec.temporal
    assert spec.uses == {"fill_frames", "flow_scale", "inpaint_radius"}
    assert isinstance(spec.factory(Runtime(device="cpu")), TemporalFillInpainter)
