"""SD -> HD end to end (decode, Lanczos upscale, encode) against plain ffmpeg doing the same.

Both take the same 640x360 source (the bundled sample played twice, 264 frames) to 1280x720
H.264 at the same preset and CRF with the audio, from a fresh start (a new project each run for
us). Runs alternate, medians of 3. Target: ours at most 2x ffmpeg's time.

    python benchmarks/e2e_vs_ffmpeg.py [--preset medium] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import looped_sample, median, sdhd_cmd, timed

from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.media.probe import probe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = looped_sample(tmp / "sd.mp4", loops=2)
        frames = probe(str(source)).frame_count
        ours, theirs = [], []
        for run in range(args.runs):
            project = tmp / f"run{run}.sdhd"
            ours.append(timed(sdhd_cmd(
                "upscale", source, "-o", tmp / "ours.mp4", "--height", "720", "--crf", "18",
                "--preset", args.preset, "--project", project,
            )))
            shutil.rmtree(project, ignore_errors=True)
            theirs.append(timed([
                ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                "-vf", "scale=1280:720:flags=lanczos", "-c:v", "libx264", "-preset", args.preset,
                "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy", str(tmp / "ffmpeg.mp4"),
            ]))
        for name in ("ours.mp4", "ffmpeg.mp4"):
            info = probe(str(tmp / name))
            assert (info.width, info.height, info.frame_count) == (1280, 720, frames), info
    a, b = median(ours), median(theirs)
    print(f"{frames} frames 640x360 -> 1280x720, libx264 preset {args.preset} crf 18, "
          f"medians of {args.runs}")
    print(f"  sdhd upscale (lanczos): {a:6.2f} s  ({frames / a:5.1f} fps)  runs {_fmt(ours)}")
    print(f"  ffmpeg scale+encode:    {b:6.2f} s  ({frames / b:5.1f} fps)  runs {_fmt(theirs)}")
    print(f"  ratio ours/ffmpeg: {a / b:.2f}x (target <= 2.00x)")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
