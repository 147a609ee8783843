"""Deinterlacing against a progressive ground truth: the project's conditioned frames beside
ffmpeg's `bwdif=mode=send_field` and plain weaving, PSNR (RGB, at SD size) and frames/s.

The truth is the bundled sample taken as field-rate video (each picture one field time); the
sources are woven from it and encoded as a PAL DVD stream (MPEG-2 PS, 25i top field first) and
an NTSC DV AVI (29.97i bottom field first). Both sides decode the same file to RGB frames at
field rate; ffmpeg writes raw RGB to a pipe, which is timed as its whole run.

    python benchmarks/sources.py [--seconds 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the clip makers

import source_clips  # noqa: E402
from _common import median  # noqa: E402

from sdhd_studio.core.conditioning import condition  # noqa: E402
from sdhd_studio.media.analysis import analyse  # noqa: E402
from sdhd_studio.media.ffmpeg import ffmpeg_exe  # noqa: E402
from sdhd_studio.media.probe import probe  # noqa: E402
from sdhd_studio.media.quality import psnr  # noqa: E402
from sdhd_studio.media.reader import FrameReader  # noqa: E402


def ours(path: str) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    info = probe(path)
    info = condition(dataclasses.replace(info, analysis=analyse(path, info)))
    with FrameReader(path, info) as reader:
        frames = [frame for _, frame in reader.frames()]
    return frames, time.perf_counter() - t0


def ffmpeg(path: str, size: tuple[int, int], vf: str) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", path, "-vf", vf, "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    seconds = time.perf_counter() - t0
    w, h = size
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)), seconds


def score(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=False)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [
            ("PAL DVD MPEG-2 PS 25i tff", source_clips.PAL, "50", "tff", "tape.mpg",
             (*source_clips.MPEG2, "-f", "dvd")),
            ("NTSC DV AVI 29.97i bff", source_clips.NTSC, "60000/1001", "bff", "tape.avi",
             source_clips.DV),
        ]  # fmt: skip
        for label, size, rate, order, name, codec in cases:
            fields = round(args.seconds * Fraction(rate))
            fields -= fields % 2
            truth_path = source_clips.make_truth(folder / f"{order}.mkv", size, fields, rate)
            path = str(source_clips.interlace(truth_path, folder / name, order, *codec))
            truth = source_clips.bt601_frames(truth_path)
            weave = [f for f in source_clips.bt601_frames(path) for _ in range(2)]
            results = {}
            for who, run in (
                ("sdhd (bwdif, auto)", lambda p=path: ours(p)),
                ("ffmpeg bwdif=mode=send_field",
                 lambda p=path, s=size, o=order: ffmpeg(p, s, f"bwdif=mode=send_field:parity={o}")),
            ):  # fmt: skip
                times = []
                for _ in range(args.runs):
                    frames, seconds = run()
                    times.append(seconds)
                results[who] = (score(frames, truth), len(frames) / median(times), len(frames))
            results["weave (no deinterlacing)"] = (score(weave, truth), float("nan"), len(weave))
            rows.append((label, results))
    print("| source | method | frames | PSNR vs truth (dB) | frames/s |")
    print("|---|---|---|---|---|")
    for label, results in rows:
        for who, (db, fps, count) in results.items():
            rate_text = "–" if fps != fps else f"{fps:.0f}"
            print(f"| {label} | {who} | {count} | {db:.2f} | {rate_text} |")


if __name__ == "__main__":
    main()
