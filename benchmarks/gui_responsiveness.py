"""How long the editor's event loop can stall while two workers render.

Opens the editor (offscreen) on a project of the bundled sample at 720p and measures the gaps
between ticks of a 1 ms timer: first while idle (the baseline, in the same run), then during a
render of every frame with 2 workers while the playhead moves every 40 ms, as a user scrubbing
would. Reports the longest gap and the 99th percentile for each; repeated --runs times.
Target: longest gap under 100 ms while rendering.

    python benchmarks/gui_responsiveness.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import SAMPLE, median, ticking

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402

from sdhd_studio.gui.app import make_application  # noqa: E402
from sdhd_studio.render.session import Session  # noqa: E402


def measure(app, window, seconds: float | None, render: bool) -> tuple[list[float], float]:
    """Event-loop gaps (ms) over `seconds`, or until the render finishes."""
    started = time.perf_counter()
    scrub = QTimer()
    frames = window.document.project.frame_count
    scrub.timeout.connect(lambda: window.set_current_frame((window.current_frame() + 7) % frames))
    scrub.start(40)
    done = [False]
    if render:
        window.render_pool.finished.connect(lambda summary: done.__setitem__(0, True))
        window.act_render.trigger()
    gaps = ticking(app, lambda: done[0] or (
        seconds is not None and time.perf_counter() - started >= seconds))
    scrub.stop()
    return gaps[5:], time.perf_counter() - started  # the first ticks include start-up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = make_application([])
    from sdhd_studio.gui.main_window import MainWindow

    rows = []
    for run in range(args.runs):
        work = Path(tempfile.mkdtemp())
        try:
            Session.create(SAMPLE, work / "b.sdhd")
            window = MainWindow(QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
            window.resize(1400, 900)
            window.show()
            window.prefs = window.prefs.__class__(workers=2)
            window.open_path(str(work / "b.sdhd"))
            idle, _ = measure(app, window, 3.0, render=False)
            busy, seconds = measure(app, window, None, render=True)
            frames = window.document.status.counts()["done"]
            window.shutdown()
            window.deleteLater()
            app.processEvents()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append((max(idle), np.percentile(idle, 99), max(busy), np.percentile(busy, 99),
                     frames / seconds))
        print(f"run {run + 1}: idle max {rows[-1][0]:.1f} ms p99 {rows[-1][1]:.1f} ms | "
              f"rendering max {rows[-1][2]:.1f} ms p99 {rows[-1][3]:.1f} ms, "
              f"{frames} frames at {rows[-1][4]:.1f} frames/s")
    cols = list(zip(*rows, strict=True))
    print(f"median of {args.runs}: idle longest gap {median(list(cols[0])):.1f} ms, "
          f"rendering longest gap {median(list(cols[2])):.1f} ms "
          f"(p99 {median(list(cols[3])):.1f} ms); target < 100 ms")


if __name__ == "__main__":
    main()
