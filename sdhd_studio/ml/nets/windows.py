"""The bookkeeping of attention inside windows, shared by SwinIR, HAT and DAT: cutting a
picture's tokens into h x w windows and back, the mask of a window shifted by half its size,
and the index of each (query, key) pair's offset in a relative-position table.

Tensor functions; torch is imported only where one is made from nothing.
"""

from __future__ import annotations

from typing import Any

MASKED = -100.0  # what the originals add to attention between pixels a shift brought together


def partition(x: Any, h: int, w: int) -> Any:
    """(B, H, W, C) tokens -> (B * windows, h * w, C), windows row by row."""
    b, height, width, c = x.shape
    x = x.view(b, height // h, h, width // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h * w, c)


def merge(x: Any, h: int, w: int, height: int, width: int) -> Any:
    """`partition` undone: (B * windows, h * w, C) -> (B, height, width, C)."""
    c = x.shape[-1]
    x = x.view(-1, height // h, width // w, h, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, height, width, c)


def shifted_mask(height: int, width: int, h: int, w: int, device: Any, dtype: Any) -> Any:
    """(windows, h * w, h * w): MASKED between positions of a window shifted by half its size
    that come from different regions of the picture (the cyclic shift wraps the bottom and
    right edges round to the top and left), else 0."""
    import torch

    region = torch.zeros(height, width, device=device)
    rows = (slice(0, -h), slice(-h, -(h // 2)), slice(-(h // 2), None))
    cols = (slice(0, -w), slice(-w, -(w // 2)), slice(-(w // 2), None))
    for i, band in enumerate(rows):
        for j, column in enumerate(cols):
            region[band, column] = 3 * i + j
    labels = partition(region[None, :, :, None], h, w)[..., 0]  # (windows, h * w)
    differ = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differ.shape, device=device, dtype=dtype).masked_fill(differ, MASKED)


def relative_index(h: int, w: int) -> Any:
    """(h * w, h * w): where in a (2h - 1) x (2w - 1) table, row-major by (dy, dx), the offset
    from each key position to each query position of an h x w window lies."""
    import torch

    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    return (ys[:, None] - ys[None] + h - 1) * (2 * w - 1) + xs[:, None] - xs[None] + w - 1
