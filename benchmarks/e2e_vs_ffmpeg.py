"""SD -> HD end to end (decode, condition, Lanczos upscale, encode) against plain ffmpeg doing
the same job.

Progressive: the 640x360 sample played twice (264 frames) to 1280x720. Interlaced: a PAL
DVD-style MPEG-2 program stream (720x576 25i, top field first, 16:9, the sample's 132 pictures
woven into 66 frames, with audio) deinterlaced to one frame per field (50p) and taken to
1280x720; ffmpeg runs `bwdif=mode=send_field`, the same Lanczos and the BT.601 -> BT.709
conversion with tags. Both sides encode H.264 at the same preset and CRF with the audio, from a
fresh start (a new project each run for us). Runs alternate, medians of `--runs`; the CPU time
(user + system, all processes) is printed too, as it swings less than wall time on a shared
machine. Target: the progressive job at most 1.25x ffmpeg's time.

    python benchmarks/e2e_vs_ffmpeg.py [--preset medium] [--runs 3] [--only progressive]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, looped_sample, median, sdhd_cmd

sys.path.insert(0, str(ROOT / "tests"))  # the tape-style clip makers
import source_clips  # noqa: E402

from sdhd_studio.media.ffmpeg import ffmpeg_exe  # noqa: E402
from sdhd_studio.media.probe import probe  # noqa: E402

_TO_BT709 = ("in_color_matrix=bt601:out_color_matrix=bt709:out_range=tv,"
             "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("progressive", "interlaced"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = []
        if args.only != "interlaced":
            source = looped_sample(tmp / "sd.mp4", loops=2)
            jobs.append(("progressive 640x360 25p", source, "scale=1280:720:flags=lanczos",
                         probe(str(source)).frame_count))
        if args.only != "progressive":
            truth = source_clips.make_truth(tmp / "truth.mkv", source_clips.PAL, 132, "50")
            tape = source_clips.interlace(truth, tmp / "tape.mpg", "tff", *source_clips.MPEG2,
                                          "-f", "dvd", audio=True)
            jobs.append(("interlaced 720x576 25i tff (DVD MPEG-2)", tape,
                         f"bwdif=mode=send_field:parity=tff,"
                         f"scale=1280:720:flags=lanczos:{_TO_BT709}",
                         2 * probe(str(tape)).frame_count))
        for label, source, vf, frames in jobs:
            ours, theirs = [], []
            for run in range(args.runs):
                project = tmp / f"run{run}.sdhd"
                ours.append(_timed(sdhd_cmd(
                    "upscale", source, "-o", tmp / "ours.mp4", "--height", "720", "--crf",
                    "18", "--preset", args.preset, "--project", project,
                )))
                shutil.rmtree(project, ignore_errors=True)
                theirs.append(_timed([
                    ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                    "-vf", vf, "-c:v", "libx264", "-preset", args.preset, "-crf", "18",
                    "-pix_fmt", "yuv420p", "-c:a", "copy", str(tmp / "ffmpeg.mp4"),
                ]))
            for name in ("ours.mp4", "ffmpeg.mp4"):
                info = probe(str(tmp / name))
                assert (info.width, info.height, info.frame_count) == (1280, 720, frames), info
            _report(label, frames, args, ours, theirs)


def _timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _report(label: str, frames: int, args: argparse.Namespace,
            ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> None:
    a, b = median([w for w, _ in ours]), median([w for w, _ in theirs])
    ca, cb = median([c for _, c in ours]), median([c for _, c in theirs])
    print(f"{label}: {frames} frames -> 1280x720, libx264 preset {args.preset} crf 18, "
          f"medians of {args.runs}")
    print(f"  sdhd upscale (lanczos): {a:6.2f} s  ({frames / a:5.1f} fps)  CPU {ca:6.2f} s  "
          f"runs {_fmt(ours)}")
    print(f"  ffmpeg, same job:       {b:6.2f} s  ({frames / b:5.1f} fps)  CPU {cb:6.2f} s  "
          f"runs {_fmt(theirs)}")
    print(f"  ratio ours/ffmpeg: {a / b:.2f}x wall, {ca / cb:.2f}x CPU (target <= 1.25x)")


def _fmt(values: list[tuple[float, float]]) -> str:
    return ", ".join(f"{w:.2f}" for w, _ in values)


if __name__ == "__main__":
    main()
