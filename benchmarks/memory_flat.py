"""Memory stays flat in video length: peak RSS of render + export for a clip and the same clip
looped 10x (sdhd upscale, 640x360 -> 1280x720). Target: the long one within +15%.

    python benchmarks/memory_flat.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import looped_sample, peak_rss_mb

from sdhd_studio.media.probe import probe


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for loops in (1, 10):
            source = looped_sample(tmp / f"sd{loops}.mp4", loops=loops)
            frames = probe(str(source)).frame_count
            engine, ffmpeg = peak_rss_mb(
                "upscale", source, "-o", tmp / f"out{loops}.mp4", "--height", "720",
                "--preset", "veryfast", "--project", tmp / f"p{loops}.sdhd",
            )
            rows.append((loops, frames, engine, ffmpeg))
    for loops, frames, engine, ffmpeg in rows:
        print(f"  x{loops:<2} {frames:5d} frames: engine peak {engine:7.1f} MB, "
              f"ffmpeg peak {ffmpeg:7.1f} MB")
    growth = rows[1][2] / rows[0][2] - 1
    print(f"  engine peak growth for 10x the frames: {growth * 100:+.1f}% (target <= +15%)")


if __name__ == "__main__":
    main()
