"""How long one paint of the timeline takes for a 100,000-frame video.

Realistic states (runs of done, dirty ranges, a queued block behind a rendering one, scattered
failures), 200 keyframes and 50 masks on a 1600x80 widget. Times `widget.render(QImage)` at fit
zoom and at 4 px/frame, median of 50 paints each; also the worst case for fit zoom (states
striped so that nearly every pixel column is its own run) and, as the baseline, one fillRect
per frame.
Target: under 16 ms (one frame at 60 Hz).

    QT_QPA_PLATFORM=offscreen python benchmarks/timeline_paint.py
"""

from __future__ import annotations

import os
import sys
import time
from fractions import Fraction

import numpy as np
from _common import median

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sdhd_studio.gui.timeline import STATE_COLOURS, TimelineWidget, cell_runs  # noqa: E402
from sdhd_studio.render.status import FrameState  # noqa: E402

FRAMES = 100_000
PAINTS = 50


def realistic_states(rng: np.random.Generator) -> tuple[np.ndarray, dict[int, str]]:
    states = np.full(FRAMES, FrameState.DONE, dtype=np.uint8)
    states[62_000:] = FrameState.EMPTY
    for start in rng.choice(60_000, 8, replace=False):
        states[start : start + rng.integers(200, 4000)] = FrameState.DIRTY
    states[60_000:60_008] = FrameState.RENDERING
    states[60_008:62_000] = FrameState.QUEUED
    failed = rng.choice(60_000, 40, replace=False)
    states[failed] = FrameState.FAILED
    return states, {int(i): "upscale: CUDA out of memory" for i in failed}


def paint_ms(widget: TimelineWidget, paints: int = PAINTS) -> float:
    image = QImage(widget.size(), QImage.Format.Format_ARGB32_Premultiplied)
    widget.render(image)  # warm-up: fonts, numpy paths
    times = []
    for _ in range(paints):
        t0 = time.perf_counter()
        widget.render(image)
        times.append(time.perf_counter() - t0)
    return median(times) * 1000


def per_frame_baseline_ms(states: np.ndarray, width: int, paints: int = 5) -> float:
    """The naive way: one fillRect per frame, at fit zoom."""
    image = QImage(width, 80, QImage.Format.Format_ARGB32_Premultiplied)
    colours = [STATE_COLOURS[s] for s in FrameState]
    ppf = width / len(states)
    times = []
    for _ in range(paints):
        t0 = time.perf_counter()
        painter = QPainter(image)
        for i, state in enumerate(states.tolist()):
            painter.fillRect(int(i * ppf), 38, 1, 37, colours[state])
        painter.end()
        times.append(time.perf_counter() - t0)
    return median(times) * 1000


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    rng = np.random.default_rng(7)
    states, errors = realistic_states(rng)
    widget = TimelineWidget()
    widget.resize(1600, 80)
    widget.set_frame_count(FRAMES, Fraction(30000, 1001))
    widget.set_states(states, errors)
    keyframes = np.sort(rng.choice(FRAMES, 200, replace=False)).tolist()
    masks = [(int(s), int(s + rng.integers(30, 2000))) for s in rng.choice(FRAMES - 2000, 50)]
    widget.set_markers(keyframes, masks)
    widget.set_current_frame(60_004)
    widget.set_selection(30_000, 35_000)
    app.processEvents()

    fit = paint_ms(widget)
    widget.set_pixels_per_frame(4)
    zoomed = paint_ms(widget)
    widget.zoom_to_fit()
    # Blocks of 40 frames cycling through the states: nearly every pixel column differs from
    # the next, so the cells take one rect per column.
    stripes = (np.arange(FRAMES) // 40 % len(FrameState)).astype(np.uint8)
    widget.set_states(stripes, {})
    runs = len(cell_runs(stripes, 0.0, widget.pixels_per_frame(), widget.width())[0])
    worst = paint_ms(widget)
    baseline = per_frame_baseline_ms(states, widget.width())

    print(f"{FRAMES} frames, 200 keyframes, 50 masks, widget 1600x80; median of {PAINTS} paints")
    print(f"fit zoom ({widget.pixels_per_frame():.4f} px/frame): {fit:.2f} ms")
    print(f"4 px/frame:                        {zoomed:.2f} ms")
    print(f"fit zoom, {runs} runs (worst case):  {worst:.2f} ms")
    print(f"baseline, one fillRect per frame:  {baseline:.1f} ms (median of 5)")
    print(f"target < 16 ms: {'met' if max(fit, zoomed, worst) < 16 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
