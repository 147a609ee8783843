"""The diffusion upscalers on tiny random Stable Diffusion pipelines, on the CPU, offline.

The models are real diffusers pipelines saved to folders and loaded back through the backends'
own loading code; their random weights draw noise, so the tests check what holds for any
model: exact sizes, same seed same frame, steps reported and cancellable, seamless tiles.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError, Cancelled
from sdhd_studio.ml import models, registry, tiles
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.sd_pipeline import tile_overlap
from tests.ml import tiny_sd

pytestmark = pytest.mark.slow  # loading diffusers alone takes seconds
STEPS = 3
TILE = 32  # input px: small frames still split into several tiles


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with tiny_sd.one_thread():
        yield


@pytest.fixture(scope="module")
def upscaler_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_sd.save_upscaler(tmp_path_factory.mktemp("sd") / "x4"))


@pytest.fixture(scope="module")
def sd_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_sd.save_img2img(tmp_path_factory.mktemp("sd") / "img2img"))


@pytest.fixture(scope="module")
def upscaler():
    return registry.get("upscale", "diffusion").factory(Runtime("cpu", tile=TILE))


@pytest.fixture(scope="module")
def refiner():
    # Tiles of the model's native size, 64 px: a 120x90 frame takes four.
    return registry.get("upscale", "diffusion-refine").factory(Runtime("cpu"))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A 40x30 picture: a gradient with a bright square, so tiles see different content."""
    y, x = np.mgrid[0:30, 0:40]
    image = np.stack([x * 6, y * 8, (x + y) * 3], axis=-1).astype(np.uint8)
    image[8:20, 12:26] = (230, 200, 40)
    return image


def _settings(model: str, **changes) -> dict:
    return {"model": model, "steps": STEPS, "seed": 7, **changes}


def test_the_three_backends_are_registered_and_not_thread_safe():
    specs = {s.name: s for s in registry.backends()}
    assert {"diffusion", "diffusion-refine"} <= {s.name for s in registry.backends("upscale")}
    assert "diffusion-inpaint" in {s.name for s in registry.backends("inpaint")}
    for name in ("diffusion", "diffusion-refine", "diffusion-inpaint"):
        assert not specs[name].thread_safe and specs[name].version and specs[name].description
    assert specs["diffusion"].uses == {
        "model", "prompt", "negative_prompt", "steps", "guidance", "noise_level", "seed"
    }
    assert specs["diffusion-refine"].uses == {
        "model", "prompt", "negative_prompt", "steps", "guidance", "strength", "seed"
    }
    catalogue = {m.id: m for m in models.catalogue()}
    assert catalogue["stabilityai/stable-diffusion-x4-upscaler"].backends == ("diffusion",)
    assert catalogue["stable-diffusion-v1-5/stable-diffusion-inpainting"].source == "hub"


def test_importing_and_checking_the_backends_imports_no_torch():
    code = (
        "import sys; from sdhd_studio.ml import registry\n"
        "for name in ('diffusion', 'diffusion-refine'):\n"
        "    registry.get('upscale', name).unusable_reason({'model': 'nowhere/none'})\n"
        "registry.get('inpaint', 'diffusion-inpaint').unusable_reason()\n"
        "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_model_is_named_with_how_to_get_it_and_nothing_goes_online(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    import huggingface_hub.constants

    def no_network(*args, **kwargs):
        raise AssertionError("a check tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    reason = registry.get("upscale", "diffusion").unusable_reason()
    assert "stabilityai/stable-diffusion-x4-upscaler" in reason
    assert "sdhd models download" in reason
    reason = registry.get("inpaint", "diffusion-inpaint").unusable_reason()
    assert "stable-diffusion-v1-5/stable-diffusion-inpainting" in reason
    assert "sdhd models download" in reason
    # The refiner has no default model: it says which setting to fill in.
    reason = registry.get("upscale", "diffusion-refine").unusable_reason()
    assert "`model`" in reason and "sdhd models download" in reason
    with pytest.raises(BackendError, match="sdhd models download"):
        registry.require_usable("upscale", "diffusion", {"model": "someone/no-such-model"})


def test_a_model_of_the_wrong_kind_is_refused_by_check(upscaler_model: str, sd_model: str):
    assert registry.get("upscale", "diffusion").unusable_reason({"model": upscaler_model}) is None
    reason = registry.get("upscale", "diffusion").unusable_reason({"model": sd_model})
    assert "StableDiffusionImg2ImgPipeline" in reason and "StableDiffusionUpscalePipeline" in reason
    reason = registry.get("upscale", "diffusion-refine").unusable_reason({"model": upscaler_model})
    assert "StableDiffusionUpscalePipeline" in reason


@pytest.mark.parametrize("size", [(211, 163), (123, 91)])
def test_x4_upscale_is_exactly_the_target_size(upscaler, upscaler_model, frame, size):
    out = upscaler.upscale(frame, size, _settings(upscaler_model), CancelToken())
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    assert out.std() > 1  # a picture came back, not a blank


def test_same_seed_same_frame_another_seed_another(upscaler, upscaler_model, frame):
    def run(**changes) -> np.ndarray:
        return upscaler.upscale(
            frame[:TILE, :TILE], (128, 128), _settings(upscaler_model, **changes), CancelToken()
        )

    first = run()
    assert np.array_equal(first, run())
    assert not np.array_equal(first, run(seed=8))
    assert not np.array_equal(first, run(noise_level=100))


def test_a_model_with_a_text_encoder_follows_the_prompt(upscaler, frame, tmp_path):
    model = str(tiny_sd.save_upscaler(tmp_path / "prompted", prompted=True))
    tile = frame[:TILE, :TILE]

    def run(**changes) -> np.ndarray:
        settings = _settings(model, **{"prompt": "a red barn", **changes})
        return upscaler.upscale(tile, (128, 128), settings, CancelToken())

    first = run()
    assert np.array_equal(first, run())
    assert not np.array_equal(first, run(prompt="a blue sky"))
    assert not np.array_equal(first, run(negative_prompt="blur"))


def test_steps_are_counted_across_all_tiles_of_a_frame(upscaler, upscaler_model, frame):
    seen: list[tuple[int, int]] = []
    upscaler.upscale(frame, (160, 120), _settings(upscaler_model), CancelToken().child(
        lambda done, total: seen.append((done, total))
    ))
    starts = [tiles.tile_starts(n, TILE, tile_overlap(TILE)) for n in frame.shape[:2]]
    total = len(starts[0]) * len(starts[1]) * STEPS
    assert total > STEPS  # several tiles
    assert seen == [(i, total) for i in range(1, total + 1)]


def test_cancelling_stops_within_one_denoising_step(upscaler, upscaler_model, frame):
    token = CancelToken()
    seen: list[int] = []

    def on_step(done: int, total: int) -> None:
        seen.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        upscaler.upscale(frame, (160, 120), _settings(upscaler_model), token.child(on_step))
    assert seen == [1]
    # The exception left the pipeline cleanly: the next frame renders as before.
    out = upscaler.upscale(frame, (160, 120), _settings(upscaler_model), CancelToken())
    assert out.shape == (120, 160, 3)


def test_tiles_blend_without_seams(upscaler, upscaler_model):
    """A flat frame in 2x2 overlapping tiles, each tile its own pipeline call.

    Random weights do not map flat to flat, but every tile of a flat frame has the same input
    and the same seed, so each comes back as the same picture `alone`. Where one tile covers
    the output by itself it must be exactly that picture, in place (alignment, crop and seed
    per tile); where two overlap, a blend whose mix moves gradually from one to the other.
    """
    grey = np.full((TILE + 12, TILE + 20, 3), 120, np.uint8)  # 52x44: tiles at 0 and 20 / 12
    height, width = grey.shape[:2]
    settings = _settings(upscaler_model)
    alone = upscaler.upscale(grey[:TILE, :TILE], (4 * TILE, 4 * TILE), settings, CancelToken())
    out = upscaler.upscale(grey, (4 * width, 4 * height), settings, CancelToken()).astype(int)
    alone = alone.astype(int)
    assert alone.std() > 1  # the tiny model does draw something the blend has to hide

    overlap = tile_overlap(TILE)
    starts = tiles.tile_starts(width, TILE, overlap), tiles.tile_starts(height, TILE, overlap)
    assert starts == ([0, 20], [0, 12])
    # In output pixels: the left tiles end at 128, the right ones start at 80; the top tiles
    # end at 128, the bottom ones start at 48.
    end, right, bottom = 4 * TILE, 80, 48
    # Covered by one tile only: the top-left, top-right and bottom-left corners.
    assert np.abs(out[:bottom, :right] - alone[:bottom, :right]).max() <= 1
    assert np.abs(out[:bottom, end:] - alone[:bottom, end - right :]).max() <= 1
    assert np.abs(out[end:, :right] - alone[end - bottom :, :right]).max() <= 1
    # Across the overlap of the top two tiles, the share of the left one falls smoothly from
    # all to nothing: a hard seam would show as a jump in that share.
    left_tile, right_tile = alone[:bottom, right:end], alone[:bottom, : end - right]
    difference = left_tile - right_tile
    band = out[:bottom, right:end] - right_tile
    share = (band * difference).sum(axis=(0, 2)) / (difference**2).sum(axis=(0, 2))
    assert share[0] > 0.9 and share[-1] < 0.1
    assert np.abs(np.diff(share)).max() < 0.1  # 48 px of ramp: ~0.03 a column


@pytest.mark.parametrize("size", [(120, 90), (97, 61)])
def test_refine_is_exactly_the_target_size_and_seeded(refiner, sd_model, frame, size):
    settings = _settings(sd_model, strength=0.5)
    out = refiner.upscale(frame, size, settings, CancelToken())
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    assert np.array_equal(out, refiner.upscale(frame, size, settings, CancelToken()))
    other = refiner.upscale(frame, size, {**settings, "seed": 8}, CancelToken())
    assert not np.array_equal(out, other)


def test_refine_at_zero_strength_is_plain_lanczos(refiner, frame):
    lanczos = registry.get("upscale", "lanczos").factory(Runtime())
    expected = lanczos.upscale(frame, (97, 61), {}, CancelToken())
    out = refiner.upscale(frame, (97, 61), {"model": "", "strength": 0.0}, CancelToken())
    assert np.array_equal(out, expected)


def test_refine_without_a_model_says_which_setting(refiner, frame):
    with pytest.raises(BackendError, match="set `model`"):
        refiner.upscale(frame, (80, 60), {"model": "", "strength": 0.3}, CancelToken())


def test_refine_reports_and_cancels_steps(refiner, sd_model, frame):
    seen: list[tuple[int, int]] = []
    token = CancelToken()

    def on_step(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        refiner.upscale(frame, (80, 60), _settings(sd_model, strength=0.5), token.child(on_step))
    assert [done for done, _ in seen] == [1, 2]
    assert seen[0][1] > 2  # steps x tiles: far from done when it stopped


def test_a_broken_model_folder_is_a_backend_error_naming_it(upscaler, upscaler_model, frame,
                                                            tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(upscaler_model, broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(BackendError, match=f"{broken}.*could not be loaded"):
        upscaler.upscale(frame, (160, 120), _settings(str(broken)), CancelToken())


def test_a_loaded_model_is_kept_and_replaced_on_change(upscaler, upscaler_model, tmp_path):
    pipe = upscaler.slot.get(upscaler_model)
    assert upscaler.slot.get(upscaler_model) is pipe
    copy = tiny_sd.save_upscaler(tmp_path / "other")
    assert upscaler.slot.get(str(copy)) is not pipe
