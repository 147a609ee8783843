"""The diffusion inpainter on a tiny random inpainting pipeline, on the CPU, offline.

What a user relies on whatever the model draws: the fill stays inside the (slightly grown)
mask and leaves every other pixel exactly as it was, the model works on a crop around the
mask at its native size, and a seed gives the same fill every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled
from sdhd_studio.ml import registry
from sdhd_studio.ml.diffusion_inpaint import FEATHER, crop_box, feather, work_size
from sdhd_studio.ml.runtime import Runtime
from tests.ml import tiny_sd

pytestmark = pytest.mark.slow  # loading diffusers alone takes seconds
NATIVE = 64  # the tiny model's UNet sample size (32) x its VAE factor (2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with tiny_sd.one_thread():
        yield


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_sd.save_inpainter(tmp_path_factory.mktemp("sd") / "inpaint"))


@pytest.fixture(scope="module")
def inpainter():
    return registry.get("inpaint", "diffusion-inpaint").factory(Runtime("cpu"))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    y, x = np.mgrid[0:161, 0:203]
    return np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)


def _settings(model: str, **changes) -> dict:
    return {"inpaint_model": model, "steps": 4, "inpaint_strength": 1.0, "seed": 3, **changes}


def _grown(mask: np.ndarray) -> np.ndarray:
    """The pixels the fill may touch: within FEATHER px of the mask."""
    return feather(mask > 0, FEATHER) > 0


@contextmanager
def _unet_inputs(inpainter, model: str) -> Iterator[list[tuple[int, ...]]]:
    """The shapes of the batches the pipeline's UNet sees inside the `with` block."""
    shapes: list[tuple[int, ...]] = []
    unet = inpainter.slot.get(model).unet
    handle = unet.register_forward_pre_hook(lambda module, args: shapes.append(args[0].shape))
    try:
        yield shapes
    finally:
        handle.remove()


def test_only_the_grown_mask_changes_and_a_small_mask_runs_on_a_native_size_crop(
    inpainter, model, frame
):
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[70:82, 95:105] = 255  # 10x12 px in a 203x161 frame
    with _unet_inputs(inpainter, model) as shapes:
        out = inpainter.inpaint(frame, mask, _settings(model), CancelToken())
    assert out.shape == frame.shape and out.dtype == np.uint8
    grown = _grown(mask)
    assert np.array_equal(out[~grown], frame[~grown])  # bit for bit
    changed = (out != frame).any(axis=2)
    assert changed[mask > 0].mean() > 0.9
    # The UNet saw the crop at the model's native size (9 channels: latents, mask, masked
    # image latents), not the 203x161 frame: a square crop, 64 px -> 32x32 latents.
    assert shapes and {s[1:] for s in shapes} == {(9, NATIVE // 2, NATIVE // 2)}


def test_a_mask_at_the_corner_of_an_odd_frame(inpainter, model, frame):
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[150:, 190:] = 1  # any value > 0 is "fill"
    out = inpainter.inpaint(frame, mask, _settings(model), CancelToken())
    grown = _grown(mask)
    assert out.shape == frame.shape
    assert np.array_equal(out[~grown], frame[~grown])
    assert (out != frame).any(axis=2)[mask > 0].mean() > 0.9


def test_a_wide_mask_on_a_wide_frame_keeps_its_aspect(inpainter, model):
    frame = np.full((48, 301, 3), 90, np.uint8)
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[20:30, 40:260] = 255
    with _unet_inputs(inpainter, model) as shapes:
        out = inpainter.inpaint(frame, mask, _settings(model), CancelToken())
    grown = _grown(mask)
    assert np.array_equal(out[~grown], frame[~grown])
    # The crop is the frame's full height and longer than wide: 64 px long, as flat as the
    # frame allows (the latents are half the pixels).
    height, width = shapes[0][2:]
    assert width == NATIVE // 2 and height < width / 2


def test_same_seed_same_fill_another_seed_another(inpainter, model, frame):
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[20:40, 30:44] = 255
    first = inpainter.inpaint(frame, mask, _settings(model), CancelToken())
    assert np.array_equal(first, inpainter.inpaint(frame, mask, _settings(model), CancelToken()))
    other = inpainter.inpaint(frame, mask, _settings(model, seed=4), CancelToken())
    assert not np.array_equal(first, other)


def test_steps_are_reported_and_cancelling_stops_after_the_first(inpainter, model, frame):
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[20:40, 30:44] = 255
    seen: list[tuple[int, int]] = []
    inpainter.inpaint(frame, mask, _settings(model), CancelToken().child(
        lambda done, total: seen.append((done, total))
    ))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]

    token = CancelToken()
    seen.clear()

    def on_step(done: int, total: int) -> None:
        seen.append((done, total))
        token.cancel()

    with pytest.raises(Cancelled):
        inpainter.inpaint(frame, mask, _settings(model), token.child(on_step))
    assert seen == [(1, 4)]


def test_an_empty_mask_or_no_strength_leaves_the_frame_and_runs_nothing(inpainter, model, frame):
    seen: list[tuple[int, int]] = []
    token = CancelToken().child(lambda done, total: seen.append((done, total)))
    empty = np.zeros(frame.shape[:2], np.uint8)
    assert np.array_equal(inpainter.inpaint(frame, empty, _settings(model), token), frame)
    mask = empty.copy()
    mask[10:20, 10:20] = 255
    still = inpainter.inpaint(frame, mask, _settings(model, inpaint_strength=0.0), token)
    assert np.array_equal(still, frame)
    assert seen == []


def test_low_strength_still_runs_a_step(inpainter, model, frame):
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[60:70, 60:70] = 255
    seen: list[int] = []
    token = CancelToken().child(lambda done, total: seen.append(total))
    inpainter.inpaint(frame, mask, _settings(model, inpaint_strength=0.05), token)
    assert seen == [1]


def test_crop_geometry():
    region = np.zeros((161, 203), bool)
    region[70:82, 95:105] = True
    x0, y0, x1, y1 = crop_box(region)
    assert x1 - x0 == y1 - y0 == 12 + 2 * 32  # the mask's longer side plus two margins
    assert x0 <= 95 and x1 >= 105 and y0 <= 70 and y1 >= 82
    region[:] = False
    region[0:5, 198:203] = True  # the corner: the square shifts inside the frame
    assert crop_box(region) == (203 - 69, 0, 203, 69)
    assert work_size((76, 76), 512, 8) == (512, 512)
    assert work_size((301, 48), 512, 8) == (512, 80)
