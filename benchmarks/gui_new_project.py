"""Making a project from telecined film in the editor: how long the event loop stalls.

Makes a 3:2 telecined NTSC MPEG-2 film of --pictures pictures from the SD sample, then:
- baseline, in the same run: `Session.create` called on the GUI thread, as the editor did
  before projects were made on a worker; the window is frozen for all of it;
- the editor (offscreen) making the project from the video (File › New, on a worker) while a
  1 ms timer ticks: the longest gap between ticks and the 99th percentile, beside the longest
  gap of 3 s idle just before (the machine's own noise).
Target: longest gap under 100 ms.

    python benchmarks/gui_new_project.py --pictures 1800 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import SAMPLE, median, ticking

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from sdhd_studio.gui.app import make_application  # noqa: E402
from sdhd_studio.media.ffmpeg import ffmpeg_exe  # noqa: E402
from sdhd_studio.render.session import Session  # noqa: E402


def telecined_film(out: Path, pictures: int) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1",
         "-i", str(SAMPLE),
         "-vf", "fps=24000/1001,scale=720:480,telecine=first_field=top:pattern=23,setfield=tff",
         "-frames:v", str(pictures),
         "-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-b:v", "8M", "-g", "12", "-bf", "2",
         "-an", "-f", "dvd", str(out)],
        check=True,
    )  # fmt: skip
    return out


def made_in_editor(app, window, video: Path) -> tuple[list[float], float, int]:
    """Event-loop gaps (ms) while the window makes the project; seconds; progress reports."""
    started = time.perf_counter()
    if not window.open_path(str(video)):
        raise RuntimeError("the editor did not start making the project")
    reports = [0]
    window.task.progress.connect(lambda *_: reports.__setitem__(0, reports[0] + 1))
    gaps = ticking(app, lambda: window.document is not None or window.task is None)
    if window.document is None:
        raise RuntimeError("the project was not made")
    return gaps, time.perf_counter() - started, reports[0]


def for_seconds(seconds: float):
    end = time.perf_counter() + seconds
    return lambda: time.perf_counter() >= end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pictures", type=int, default=1800)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = make_application([])
    from sdhd_studio.gui.main_window import MainWindow

    work = Path(tempfile.mkdtemp())
    try:
        video = telecined_film(work / "film.mpg", args.pictures)
        rows = []
        for run in range(args.runs):
            started = time.perf_counter()
            Session.create(video, work / f"gui_thread{run}.sdhd")
            frozen = time.perf_counter() - started
            window = MainWindow(QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
            window.resize(1400, 900)
            window.show()
            ticking(app, for_seconds(1.0))  # the window's first paints are not measured
            idle = ticking(app, for_seconds(3.0))
            gaps, seconds, reports = made_in_editor(app, window, video)
            frames = window.document.project.frame_count
            window.shutdown()
            window.deleteLater()
            app.processEvents()
            shutil.rmtree(work / "film.sdhd")
            rows.append((frozen, seconds, max(gaps), float(np.percentile(gaps, 99)), max(idle)))
            print(f"run {run + 1}: on the GUI thread: frozen {frozen:.2f} s | on a worker: "
                  f"{seconds:.2f} s, longest gap {max(gaps):.1f} ms, p99 {rows[-1][3]:.1f} ms, "
                  f"{reports} progress reports; {frames} film frames | idle 3 s before: "
                  f"longest gap {max(idle):.1f} ms")
        cols = list(zip(*rows, strict=True))
        print(f"median of {args.runs}, {args.pictures} pictures: GUI thread frozen "
              f"{median(list(cols[0])):.2f} s | worker {median(list(cols[1])):.2f} s, longest "
              f"gap {median(list(cols[2])):.1f} ms (p99 {median(list(cols[3])):.1f} ms), idle "
              f"longest gap {median(list(cols[4])):.1f} ms; target < 100 ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
