"""How long computing every frame's status takes for a 100,000-frame project.

Builds a project with keyframes, a ramp and masks, fills the cache with 50,000 entries (empty
files: only their names matter here), then times plan (recipe keys) + cache scan + status.
Prints the median of 5 runs. Target: under 1 s.

    python benchmarks/status_100k.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from sdhd_studio.core import edits
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.core.source import Fingerprint, Source, VideoInfo
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.plan import Plan
from sdhd_studio.render.status import FrameStatus

FRAMES = 100_000


def project():
    info = VideoInfo(720, 480, Fraction(8, 9), 0, "yuv420p", "h264", Fraction(30000, 1001),
                     Fraction(30000, 1001), Fraction(30000, 1001), FRAMES, FRAMES / 29.97, 0.0,
                     False)
    p = edits.new_project(Source("/v.mp4", Fingerprint(1, "f" * 64, 0), info))
    for frame in range(0, FRAMES, 5000):
        p = edits.set_keyframe(p, frame, {"sharpen": (frame % 7) / 10})
    p = edits.set_keyframe(p, 40_000, {"sharpen": 0.0}, ["sharpen"])
    p = edits.set_keyframe(p, 40_200, {"sharpen": 1.0})
    for frame in range(1000, FRAMES, 10_000):
        p = edits.set_mask(p, frame, "a" * 64, frame + 300)
    return p


def main() -> int:
    proj = project()
    with tempfile.TemporaryDirectory() as tmp:
        folder = ProjectFolder(Path(tmp) / "p.sdhd")
        cache = FrameCache(folder.cache_dir)
        for key in Plan(proj, folder).keys[::2]:
            path = cache.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            plan = Plan(proj, folder)
            status = FrameStatus(plan.keys, cache.keys(), cache.rendered_frames(),
                                 cache.failures())
            times.append(time.perf_counter() - t0)
        print(f"frames: {len(status)}  counts: {status.counts()}")
        print(f"status of {FRAMES} frames: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}) over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
