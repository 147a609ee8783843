"""Source conditioning against a progressive ground truth: the project's conditioned frames
beside ffmpeg's `bwdif=mode=send_field` (interlaced) or `fieldmatch,decimate` (telecined) and
plain weaving, PSNR (RGB, at SD size, every side's pictures turned into RGB the same way) and
frames/s.

The truth is the bundled sample taken as field-rate video (each picture one field time), or as
23.976p film; the sources are woven from it and encoded as a PAL DVD stream (MPEG-2 PS, 25i
top field first), an NTSC DV AVI (29.97i bottom field first) and 3:2 telecined NTSC film
(MPEG-2 PS). ffmpeg is timed decoding and filtering (`-f null`), without RGB conversion; ours
from probe to the last RGB frame, the analysis and (for film) the field-matching pass
included.

    python benchmarks/sources.py [--seconds 4] [--runs 3] [--clip other.mp4] [--only-fields]

`--clip` makes the truth from another clip (a check that the figures are not the sample's
alone); `--only-fields` leaves out the telecined film.
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

from sdhd_studio.core.conditioning import condition, wants_ivtc  # noqa: E402
from sdhd_studio.media.analysis import analyse  # noqa: E402
from sdhd_studio.media.ffmpeg import ffmpeg_exe  # noqa: E402
from sdhd_studio.media.probe import probe  # noqa: E402
from sdhd_studio.media.quality import psnr  # noqa: E402
from sdhd_studio.media.telecine import telecine_map  # noqa: E402
from sdhd_studio.render.sources import open_reader  # noqa: E402


def ours(path: str, deinterlace: str = "auto") -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    info = probe(path)
    info = dataclasses.replace(info, analysis=analyse(path, info))
    film = wants_ivtc(info, field_order="auto", deinterlace="auto", ivtc="auto")
    info = condition(info, deinterlace=deinterlace,
                     telecine=telecine_map(path, info, "tff") if film else "")  # fmt: skip
    with open_reader(path, info) as reader:
        frames = [frame for _, frame in reader.frames()]
    return frames, time.perf_counter() - t0


def ffmpeg(path: str, vf: str, out: Path) -> tuple[list[np.ndarray], float]:
    """ffmpeg's filter, timed decoding and filtering into nothing (`-f null`); its pictures
    are kept by a second run, losslessly (FFV1), and turned into RGB the way ours are, so only
    the filters differ."""
    command = [ffmpeg_exe(), "-v", "error", "-y", "-i", path, "-vf", vf]
    t0 = time.perf_counter()
    subprocess.run([*command, "-f", "null", "-"], check=True)
    seconds = time.perf_counter() - t0
    subprocess.run([*command, "-c:v", "ffv1", str(out)], check=True)
    return source_clips.bt601_frames(out), seconds


def score(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=False)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clip", type=Path, default=source_clips.SAMPLE)
    parser.add_argument("--only-fields", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [
            ("PAL DVD MPEG-2 PS 25i tff", source_clips.PAL, "50", "tff", "tape.mpg",
             (*source_clips.MPEG2, "-f", "dvd")),
            ("NTSC DV AVI 29.97i bff", source_clips.NTSC, "60000/1001", "bff", "tape.avi",
             source_clips.DV),
            ("NTSC film 3:2 telecined, MPEG-2 PS", source_clips.NTSC, "24000/1001", "film",
             "film.mpg", (*source_clips.MPEG2, "-f", "dvd")),
        ]  # fmt: skip
        for label, size, rate, order, name, codec in cases:
            if order == "film" and args.only_fields:
                continue
            frames = round(args.seconds * Fraction(rate))
            frames -= frames % (4 if order == "film" else 2)
            truth_path = source_clips.make_truth(folder / f"{order}.mkv", size, frames, rate,
                                                 args.clip)  # fmt: skip
            if order == "film":
                path = str(source_clips.telecine(truth_path, folder / name, *codec))
                reference = ("ffmpeg fieldmatch,decimate", "fieldmatch=order=tff,decimate")
                weave = None  # 30 pictures a second against 24 film frames: no like for like
            else:
                path = str(source_clips.interlace(truth_path, folder / name, order, *codec))
                reference = ("ffmpeg bwdif=mode=send_field",
                             f"bwdif=mode=send_field:parity={order}")  # fmt: skip
                weave = [f for f in source_clips.bt601_frames(path) for _ in range(2)]
            truth = source_clips.bt601_frames(truth_path)
            results = {}
            runs = [("sdhd (auto)", lambda p=path: ours(p))]
            if order != "film":
                runs.append(("sdhd --deinterlace mc", lambda p=path: ours(p, "mc")))
            out = folder / "reference.mkv"
            runs.append((reference[0], lambda p=path, vf=reference[1], o=out: ffmpeg(p, vf, o)))
            for who, run in runs:
                times = []
                for _ in range(args.runs):
                    frames_out, seconds = run()
                    times.append(seconds)
                results[who] = (score(frames_out, truth), len(frames_out) / median(times),
                                len(frames_out))  # fmt: skip
            if weave is not None:
                results["weave (no deinterlacing)"] = (score(weave, truth), float("nan"),
                                                       len(weave))  # fmt: skip
            rows.append((label, results))
    print("| source | method | frames | PSNR vs truth (dB) | frames/s |")
    print("|---|---|---|---|---|")
    for label, results in rows:
        for who, (db, fps, count) in results.items():
            rate_text = "–" if fps != fps else f"{fps:.0f}"
            print(f"| {label} | {who} | {count} | {db:.2f} | {rate_text} |")


if __name__ == "__main__":
    main()
