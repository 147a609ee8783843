"""Selective re-render: change one keyframe of a 250-frame project; only its frames render.

Keyframes at 0, 50, 100, 150, 200 (Lanczos with different sharpen amounts), 720p output.
Measures the full render, then changes keyframe 100's setting and re-renders, 3 times
(alternating values). Target: rendered == the 50 dependent frames, and the re-render wall time
<= (dependent / total) x full time + 2 s.

    python benchmarks/selective_rerender.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from _common import looped_sample, median, sdhd_cmd

KEYFRAMES = (0, 50, 100, 150, 200)
TOTAL = 250


def render(project: Path) -> dict:
    out = subprocess.run(sdhd_cmd("render", project, "--json"), check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = looped_sample(tmp / "sd.mp4", loops=2, frames=TOTAL)
        project = tmp / "p.sdhd"
        subprocess.run(sdhd_cmd("new", source, "-o", project, "--height", "720"), check=True,
                       capture_output=True)
        for i, frame in enumerate(KEYFRAMES):
            subprocess.run(sdhd_cmd("keyframe", "set", project, frame, "--set",
                                    f"sharpen={0.1 * i:.1f}"), check=True, capture_output=True)
        full = render(project)
        assert full["rendered"] == TOTAL, full
        times, counts = [], []
        for value in (0.9, 1.1, 1.3):
            subprocess.run(sdhd_cmd("keyframe", "set", project, 100, "--set", f"sharpen={value}"),
                           check=True, capture_output=True)
            again = render(project)
            times.append(again["seconds"])
            counts.append(again["rendered"])
    dependent = KEYFRAMES[3] - KEYFRAMES[2]
    bound = dependent / TOTAL * full["seconds"] + 2
    print(f"{TOTAL}-frame project, 640x360 -> 1280x720 lanczos, keyframes at {KEYFRAMES}")
    print(f"  full render: {full['seconds']:.2f} s ({TOTAL / full['seconds']:.1f} fps)")
    print(f"  change keyframe 100: rendered {counts} frames (expected {dependent} each)")
    print(f"  re-render: median {median(times):.2f} s, runs "
          + ", ".join(f"{t:.2f}" for t in times) + f"; bound {bound:.2f} s")
    print(f"  within bound: {median(times) <= bound and set(counts) == {dependent}}")


if __name__ == "__main__":
    main()
