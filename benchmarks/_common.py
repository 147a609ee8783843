"""Shared bits for the benchmark scripts: sample clips, timing, peak memory."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdhd_studio.media.ffmpeg import ffmpeg_exe

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "bbb_sd.mp4"


def looped_sample(out: Path, loops: int = 1, frames: int | None = None) -> Path:
    """The SD sample played `loops` times (optionally cut to `frames`), re-encoded like it."""
    cut = ["-frames:v", str(frames)] if frames else []
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-stream_loop", str(loops - 1), "-i", str(SAMPLE), *cut,
         "-c:v", "libx264", "-crf", "20", "-preset", "fast", "-c:a", "aac", "-shortest",
         str(out)],
        check=True,
    )  # fmt: skip
    return out


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def sdhd_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "sdhd_studio", *map(str, args)]


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mb(*sdhd_args: str | Path) -> tuple[float, float]:
    """Run `sdhd ARGS` in a fresh process; peak RSS in MB of (the engine, ffmpeg)."""
    code = (
        "import json, resource, sys\n"
        "from sdhd_studio.cli.main import main\n"
        "rc = main(sys.argv[1:])\n"
        "use = resource.getrusage\n"
        "print(json.dumps([rc, use(resource.RUSAGE_SELF).ru_maxrss,"
        " use(resource.RUSAGE_CHILDREN).ru_maxrss]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *map(str, sdhd_args)], check=True,
                         capture_output=True, text=True)
    rc, engine_kb, ffmpeg_kb = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise RuntimeError(f"sdhd {' '.join(map(str, sdhd_args))} failed: {out.stderr}")
    return engine_kb / 1024, ffmpeg_kb / 1024


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or, with RUSAGE_CHILDREN, of its largest
    finished child) in MB."""
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def time_upscaler(make: Callable[[], Any], model: str, frame: int,
                  size: tuple[int, int]) -> tuple[dict, Any]:
    """Make an upscaler, load `model` in it and upscale frame `frame` of the sample to `size`
    twice: the first run pays one-off allocations and kernel choices, the second is the
    per-frame figure a long render sees. ({load, first, seconds, peak_rss_mb}, the upscaler)"""
    from sdhd_studio.core.cancel import CancelToken
    from sdhd_studio.media.reader import FrameReader

    with FrameReader(str(SAMPLE)) as reader:
        image = reader.read(frame)
    settings, cancel = {"model": model, "sharpen": 0.0}, CancelToken()
    t0 = time.perf_counter()
    upscaler = make()
    upscaler.net(model)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    upscaler.upscale(image, size, settings, cancel)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = upscaler.upscale(image, size, settings, cancel)
    seconds = time.perf_counter() - t0
    assert out.shape == (size[1], size[0], 3)
    return {"load": load, "first": first, "seconds": seconds,
            "peak_rss_mb": max_rss_mb()}, upscaler


def ticking(app, done) -> list[float]:
    """Gaps (ms) between ticks of a 1 ms timer while the event loop runs until `done()`."""
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    from PySide6.QtCore import QTimer  # only the GUI benchmarks, which set Qt up first

    ticker = QTimer()
    ticker.timeout.connect(tick)
    ticker.start(1)
    while not done():
        app.processEvents()
        time.sleep(0.0005)  # a real event loop sleeps between events too
    ticker.stop()
    return gaps
