import numpy as np
import pytest

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError, Cancelled
from sdhd_studio.ml.tiles import run_tiled, tile_starts, with_smaller_tiles_on_oom


def nearest_x2(tile: np.ndarray) -> np.ndarray:
    return tile.repeat(2, axis=0).repeat(2, axis=1)


def test_tiles_cover_every_pixel_with_at_least_the_overlap():
    for length, tile, overlap in [(100, 32, 8), (33, 32, 8), (32, 32, 8), (1000, 256, 16)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_a_tiled_run_equals_the_whole_image_run_for_a_pointwise_model():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (75, 131, 3), dtype=np.uint8)
    tiled = run_tiled(image, 2, 32, 8, nearest_x2, CancelToken())
    assert tiled.shape == (150, 262, 3) and tiled.dtype == np.uint8
    # Weights are normalised, so blending identical overlaps gives back the same values.
    assert np.abs(tiled.astype(int) - nearest_x2(image)).max() <= 1


def test_a_flat_frame_stays_flat_across_tile_borders():
    image = np.full((90, 160, 3), (40, 120, 200), np.uint8)
    out = run_tiled(image, 4, 48, 12, lambda t: t.repeat(4, 0).repeat(4, 1), CancelToken())
    assert (out == (40, 120, 200)).all()


def test_seams_are_feathered_not_cut():
    # A model whose output depends on the tile's own mean: tiles of a gradient disagree, and the
    # feathering must spread each disagreement over the overlap instead of a one-pixel step.
    image = np.tile(np.linspace(0, 255, 128, dtype=np.float32), (32, 1))
    image = np.repeat(image[:, :, None], 3, axis=2).astype(np.uint8)
    out = run_tiled(image, 1, 48, 16, lambda t: np.full_like(t, t.mean()), CancelToken())
    steps = np.abs(np.diff(out[0, :, 0].astype(int)))
    assert steps.max() <= 6  # tile means differ by ~30 between neighbours


def test_cancel_stops_between_tiles():
    token, seen = CancelToken(), []

    def fn(tile):
        seen.append(tile.shape)
        token.cancel()
        return tile

    with pytest.raises(Cancelled):
        run_tiled(np.zeros((64, 64, 3), np.uint8), 1, 16, 4, fn, token)
    assert len(seen) == 1


def test_out_of_memory_retries_with_halved_tiles_then_names_the_setting():
    tried = []

    def run(tile):
        tried.append(tile)
        if tile > 128:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return np.zeros((1, 1, 3), np.uint8)

    with_smaller_tiles_on_oom(run, 512, 64, "cuda:0", "diffusion")
    assert tried == [512, 256, 128]

    def never(tile):
        tried.append(tile)
        raise MemoryError()

    tried.clear()
    with pytest.raises(BackendError, match="--tile") as error:
        with_smaller_tiles_on_oom(never, 256, 64, "cuda:0", "diffusion")
    assert tried == [256, 128, 64]
    assert "cuda:0" in str(error.value) and "64-px" in str(error.value)


def test_other_errors_are_not_retried():
    calls = []

    def broken(tile):
        calls.append(tile)
        raise ValueError("bad weights")

    with pytest.raises(ValueError):
        with_smaller_tiles_on_oom(broken, 256, 64, "cpu", "x")
    assert calls == [256]
