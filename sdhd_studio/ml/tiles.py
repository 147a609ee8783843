"""Running a model over a large image in overlapping tiles, and shrinking the tiles on OOM.

Tiles bound a model's memory at any frame size. Neighbouring tiles overlap and are blended with
linear ramps across the overlap, so a seam never shows as a hard edge; where the model maps a
flat colour to a flat colour, the blended result stays flat across tile borders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError

TileFn = Callable[[np.ndarray], np.ndarray]  # RGB tile -> the tile `scale` times larger


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` overlapping by >= `overlap`."""
    if tile >= length:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def fit_tile(limit: int, height: int, width: int, overlap: int) -> int:
    """The tile side up to `limit` (and down to half of it) that runs the fewest pixels.

    Square tiles at the limit can waste much: a 640x360 frame in 512-px tiles runs two
    512x360 tiles (1.6x the frame), in 360-px tiles two 360x360 (1.1x).
    """
    if limit >= max(height, width):
        return limit

    def pixels(tile: int) -> int:
        th, tw = min(tile, height), min(tile, width)
        rows, cols = tile_starts(height, th, overlap), tile_starts(width, tw, overlap)
        return len(rows) * th * len(cols) * tw

    # min() keeps the first of equals: the largest tile, which has the fewest seams.
    return min(range(limit, max(limit // 2, overlap + 1) - 1, -1), key=pixels)


def run_fitted(
    image: np.ndarray, scale: int, limit: int, overlap: int, fn: TileFn, cancel: CancelToken,
    device: str, what: str, minimum: int = 64,
) -> np.ndarray:
    """`run_tiled` with tiles of up to `limit` px fitted to the image (`fit_tile`), halved
    after each out-of-memory error down to `minimum` (`with_smaller_tiles_on_oom`)."""
    height, width = image.shape[:2]

    def run(tile: int) -> np.ndarray:
        tile = fit_tile(tile, height, width, overlap)
        return run_tiled(image, scale, tile, overlap, fn, cancel)

    return with_smaller_tiles_on_oom(run, limit, min(minimum, limit), device, what)


def run_tiled(
    image: np.ndarray, scale: int, tile: int, overlap: int, fn: TileFn, cancel: CancelToken
) -> np.ndarray:
    """`fn` applied to `image` (H×W×3 uint8) tile by tile; returns (H·scale)×(W·scale)×3 uint8.

    With `tile` >= both sides the whole image goes through `fn` in one piece.
    """
    height, width = image.shape[:2]
    if tile >= height and tile >= width:
        cancel.check()
        return _as_uint8(fn(image))
    out = np.zeros((height * scale, width * scale, 3), np.float32)
    weight = np.zeros((height * scale, width * scale, 1), np.float32)
    for (y, x), (h, w) in _tiles(height, width, tile, overlap):
        cancel.check()
        result = np.asarray(fn(image[y : y + h, x : x + w]), np.float32)
        if result.shape != (h * scale, w * scale, 3):
            raise RuntimeError(f"tile of {w}x{h} came back {result.shape}, not x{scale}")
        ramp = _ramp(h, w, scale, overlap * scale, top=y > 0, left=x > 0,
                     bottom=y + h < height, right=x + w < width)
        ys, xs = slice(y * scale, (y + h) * scale), slice(x * scale, (x + w) * scale)
        out[ys, xs] += result * ramp
        weight[ys, xs] += ramp
    return _as_uint8(out / weight)


def with_smaller_tiles_on_oom(
    run: Callable[[int], np.ndarray], tile: int, minimum: int, device: str, what: str
) -> np.ndarray:
    """`run(tile)`, halving `tile` after each out-of-memory error down to `minimum`.

    When even `minimum` does not fit, the frame fails with a BackendError naming what to lower;
    the render goes on with the next frame.
    """
    while True:
        try:
            return run(tile)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_cached_memory()
            if tile <= minimum:
                raise BackendError(
                    f"{what} ran out of memory on {device} even with {tile}-px tiles; lower the "
                    "tile size (--tile, or Preferences ▸ Tile size) or the output height, "
                    "or render on the CPU (--device cpu)"
                ) from None
            tile = max(minimum, tile // 2)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA/MPS out-of-memory errors and allocation failures alike."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_cached_memory() -> None:
    import sys

    torch = sys.modules.get("torch")  # only if a backend already imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


Box = tuple[tuple[int, int], tuple[int, int]]  # (y, x), (height, width)


def _tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[Box]:
    th, tw = min(tile, height), min(tile, width)
    for y in tile_starts(height, th, overlap):
        for x in tile_starts(width, tw, overlap):
            yield (y, x), (th, tw)


def _ramp(h: int, w: int, scale: int, fade: int, **inner_edges: bool) -> np.ndarray:
    """Per-pixel weights of one output tile: 1 inside, rising linearly over `fade` pixels at
    each edge shared with another tile (never quite 0, so every pixel has some weight)."""
    def axis(n: int, start_inner: bool, end_inner: bool) -> np.ndarray:
        r = np.ones(n, np.float32)
        f = min(fade, n // 2)
        if f > 0:
            rise = (np.arange(f, dtype=np.float32) + 0.5) / f
            if start_inner:
                r[:f] = np.minimum(r[:f], rise)
            if end_inner:
                r[n - f :] = np.minimum(r[n - f :], rise[::-1])
        return r

    rows = axis(h * scale, inner_edges["top"], inner_edges["bottom"])
    cols = axis(w * scale, inner_edges["left"], inner_edges["right"])
    return (rows[:, None] * cols[None, :])[:, :, None]


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
