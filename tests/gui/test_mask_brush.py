import math

import numpy as np
import pytest

from sdhd_studio.gui.mask_brush import MaskCanvas


def dab(canvas: MaskCanvas, x: float, y: float, size: float, hardness: float = 1.0) -> np.ndarray:
    canvas.begin_stroke()
    canvas.add_point(x, y, size, hardness)
    return canvas.end_stroke()


def test_a_hard_dab_is_a_disc_of_the_brush_size_where_it_was_put():
    mask = dab(MaskCanvas(200, 120), 80.5, 60.5, 30)  # the centre of pixel (80, 60)
    ys, xs = np.nonzero(mask)
    assert abs(len(xs) - math.pi * 15**2) < 0.03 * math.pi * 15**2
    assert abs(xs.mean() - 80) < 0.05 and abs(ys.mean() - 60) < 0.05
    assert xs.min() == 65 and xs.max() == 95  # pixels within 15 of pixel 80, both sides
    assert set(np.unique(mask)) == {0, 255}


def test_hardness_feathers_the_edge_while_painting_but_the_committed_mask_is_binary():
    soft, hard = MaskCanvas(200, 200), MaskCanvas(200, 200)
    for canvas, hardness in ((soft, 0.2), (hard, 1.0)):
        canvas.begin_stroke()
        canvas.add_point(100, 100, 60, hardness)
    partial = [int(((c.mask > 0) & (c.mask < 255)).sum()) for c in (soft, hard)]
    assert partial[0] > 5 * partial[1]  # a wide soft ring against a one-pixel anti-aliased one
    soft_mask, hard_mask = soft.end_stroke(), hard.end_stroke()
    assert set(np.unique(soft_mask)) == set(np.unique(hard_mask)) == {0, 255}
    # The soft brush commits where its coverage crosses one half: radius 30 * (1 + 0.2) / 2.
    assert abs((soft_mask > 0).sum() - math.pi * 18**2) < 0.05 * math.pi * 18**2
    assert (hard_mask > 0).sum() > (soft_mask > 0).sum()


def test_a_fast_drag_leaves_no_gaps():
    canvas = MaskCanvas(640, 360)
    canvas.begin_stroke()
    canvas.add_point(20.5, 180.5, 12, 0.8)
    canvas.add_point(620.5, 180.5, 12, 0.8)  # one jump across the frame, as a fast mouse makes
    canvas.add_point(320.5, 20.5, 12, 0.8)
    mask = canvas.end_stroke()
    assert mask[178:183, 20:621].all()
    # The diagonal back up is as solid: every row it crosses is painted at its centre line.
    for y in range(30, 175):
        x = 620.5 + (y + 0.5 - 180.5) * (320.5 - 620.5) / (20.5 - 180.5)
        assert mask[y, int(x)] == 255, y
    assert not mask[200:].any() and not mask[:10].any()


def test_the_eraser_removes_what_it_passes_over_and_nothing_else():
    canvas = MaskCanvas(100, 100, np.full((100, 100), 255, np.uint8))
    canvas.begin_stroke(erase=True)
    canvas.add_point(10.5, 50.5, 10, 1.0)
    canvas.add_point(90.5, 50.5, 10, 1.0)
    mask = canvas.end_stroke()
    assert not mask[47:54, 10:91].any()
    assert mask[:40].all() and mask[60:].all()


def test_a_stroke_shows_while_painting_and_commits_as_one_unit():
    canvas = MaskCanvas(64, 64)
    assert canvas.is_empty
    canvas.begin_stroke()
    canvas.add_point(10, 10, 8, 1.0)
    canvas.add_point(50, 10, 8, 1.0)
    assert canvas.mask[10, 30] == 255 and canvas.painting
    committed = canvas.end_stroke()
    assert not canvas.painting and not canvas.is_empty
    committed[:] = 0  # the caller's copy: the canvas keeps its own
    assert canvas.mask[10, 30] == 255


def test_clear_and_invert():
    canvas = MaskCanvas(40, 30)
    dab(canvas, 20, 15, 10)
    inverted = canvas.invert()
    assert inverted[15, 20] == 0 and inverted[0, 0] == 255
    assert (canvas.mask == inverted).all()
    assert not canvas.clear().any() and canvas.is_empty


def test_dabs_off_the_picture_are_clipped():
    canvas = MaskCanvas(50, 40)
    canvas.begin_stroke()
    assert canvas.add_point(-30, -30, 10, 1.0) is None
    box = canvas.add_point(0, 0, 10, 1.0)  # a quarter of it lands in the corner
    mask = canvas.end_stroke()
    assert box[:2] == (0, 0)
    assert mask[0:4, 0:4].all() and not mask[6:, :].any() and not mask[:, 6:].any()


def test_a_starting_mask_is_taken_as_binary_at_the_engines_threshold():
    levels = np.array([[0, 127, 128, 255]], np.uint8)
    assert MaskCanvas(4, 1, levels).mask.tolist() == [[0, 0, 255, 255]]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MaskCanvas(4, 3, np.zeros((4, 3), np.uint8)), "canvas needs uint8"),
        (lambda: MaskCanvas(4, 3, np.zeros((3, 4), bool)), "canvas needs uint8"),
        (lambda: MaskCanvas(0, 3), "positive size"),
    ],
)
def test_bad_masks_are_refused_with_a_message(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_painting_outside_a_stroke_or_with_a_bad_brush_is_refused():
    canvas = MaskCanvas(10, 10)
    with pytest.raises(RuntimeError, match="begin_stroke"):
        canvas.add_point(1, 1, 4, 1.0)
    canvas.begin_stroke()
    with pytest.raises(RuntimeError, match="already under way"):
        canvas.begin_stroke()
    with pytest.raises(ValueError, match="size"):
        canvas.add_point(1, 1, 0, 1.0)
    with pytest.raises(ValueError, match="hardness"):
        canvas.add_point(1, 1, 4, 1.5)
    assert canvas.end_stroke().sum() == 0
