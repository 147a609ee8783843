"""Masks carried by flow: a textured square moving over a textured background."""

import cv2
import numpy as np
import pytest

from sdhd_studio.ml.track import MIN_CONFIDENCE, carry, trusted_flow

SIZE = (320, 192)  # (width, height)
SIDE = 80


def _texture(seed: int, size: tuple[int, int], cell: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = cv2.resize(rng.uniform(0, 255, (height // cell + 1, width // cell + 1, 3)), size,
                        interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 40, (height, width, 3)), (0, 0), 1.0)
    return np.clip(0.6 * coarse + fine + 50, 0, 255).astype(np.float32)


BACKGROUND = _texture(1, (SIZE[0] + 100, SIZE[1] + 100), 16)
OBJECTS = [_texture(2, (SIDE, SIDE), 6), _texture(3, (SIDE, SIDE), 6)]


def scene(corners, pan=(0, 0)):
    """The background shifted by whole pixels `pan`, with square i drawn at sub-pixel top-left
    corner corners[i]; the picture and the masks of the squares."""
    x, y = 50 + pan[0], 50 + pan[1]
    picture = BACKGROUND[y : y + SIZE[1], x : x + SIZE[0]].copy()
    masks = []
    for texture, (cx, cy) in zip(OBJECTS[: len(corners)], corners, strict=True):
        move = np.float32([[1, 0, cx], [0, 1, cy]])
        drawn = cv2.warpAffine(texture, move, SIZE, flags=cv2.INTER_LINEAR)
        cover = cv2.warpAffine(np.ones((SIDE, SIDE), np.float32), move, SIZE)[..., None]
        picture = picture * (1 - cover) + drawn * cover
        masks.append(np.where(cover[..., 0] > 0.5, 255, 0).astype(np.uint8))
    return np.clip(picture, 0, 255).astype(np.uint8), masks


def iou(a, b):
    return np.logical_and(a > 0, b > 0).sum() / np.logical_or(a > 0, b > 0).sum()


def follow(velocities, frames=20, pan=(0, 0), flow_scale=0.5):
    """Carry the squares' first masks along `frames` steps: (last carried, last true masks,
    confidences)."""
    start = [(40 + 150 * i, 50) for i in range(len(velocities))]

    def at(t):
        corners = [(x + vx * t, y + vy * t)
                   for (x, y), (vx, vy) in zip(start, velocities, strict=True)]
        return scene(corners, (pan[0] * t, pan[1] * t))

    picture, masks = at(0)
    mask = np.maximum.reduce(masks)
    confidences = []
    for t in range(1, frames + 1):
        following, true = at(t)
        mask, confidence = carry(mask, picture, following, flow_scale)
        confidences.append(confidence)
        picture = following
    return mask, true, confidences


@pytest.mark.parametrize("velocity", [(0.3, 0.2), (1.4, -0.6), (3.2, 2.1)])
def test_a_moving_square_is_followed_for_20_frames(velocity):
    mask, (true,), confidences = follow([velocity])
    assert iou(mask, true) > 0.8
    assert 0.9 < (mask > 0).sum() / (true > 0).sum() < 1.1  # neither eroded nor grown
    assert set(np.unique(mask)) <= {0, 255}
    assert min(confidences) >= MIN_CONFIDENCE


def test_a_slow_drift_is_not_lost_to_rounding():
    # 0.25 px a frame: rounding each step to the nearest pixel would never move the mask.
    mask, (true,), _ = follow([(0.25, 0.0)], frames=40)
    assert iou(mask, true) > 0.85


def test_parts_moving_apart_are_followed_each():
    mask, trues, _ = follow([(-1.5, 0.5), (1.5, -0.5)])
    for true in trues:
        assert iou(np.where(true > 0, mask, 0), true) > 0.8


def test_a_mask_on_a_burnt_in_logo_stays_while_the_camera_pans():
    mask, (true,), confidences = follow([(0.0, 0.0)], pan=(2, 1))
    assert iou(mask, true) > 0.95
    assert min(confidences) >= MIN_CONFIDENCE


def test_a_cut_to_another_picture_loses_track():
    picture, (mask,) = scene([(60, 60)])
    other = np.ascontiguousarray(picture[::-1, ::-1])
    _, confidence = carry(mask, picture, other, 0.5)
    assert confidence < MIN_CONFIDENCE


def test_the_same_inputs_give_the_same_mask():
    picture, (mask,) = scene([(60, 60)])
    following, _ = scene([(60.4, 60.7)])
    first, _ = carry(mask, picture, following, 0.5)
    again, _ = carry(mask, picture, following, 0.5)
    np.testing.assert_array_equal(first, again)


def test_an_empty_mask_carries_nothing():
    picture, _ = scene([(60, 60)])
    mask, confidence = carry(np.zeros(picture.shape[:2], np.uint8), picture, picture, 0.5)
    assert not mask.any() and mask.shape == picture.shape[:2] and confidence == 0.0


def test_flow_confidence_is_high_for_a_shift_and_nil_for_an_unrelated_picture():
    picture, _ = scene([(60, 60)], pan=(0, 0))
    shifted, _ = scene([(63, 62)], pan=(3, 2))
    _, confidence = trusted_flow(picture, shifted, 0.5)
    assert np.median(confidence) > 0.9
    _, confidence = trusted_flow(picture, np.ascontiguousarray(picture[::-1, ::-1]), 0.5)
    assert confidence.mean() < 0.05
