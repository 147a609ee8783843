"""Keyframe-guided upscaling against per-frame Real-ESRGAN on the bundled sample.

Task: the bundled 640x360 sample -> 1280x720, keyframes every `--every` frames. Three renders
of the same frames:
  per-frame  Real-ESRGAN (realesr-animevideov3, ncnn on the CPU) on every frame: the product's
             target picture;
  lanczos    Lanczos on every frame;
  guided     Real-ESRGAN on the keyframes, Lanczos plus `ml.guide.transfer_detail` from the
             keyframes on each side on the frames between them.
Quality: PSNR on Y (BT.601) of guided and of Lanczos against per-frame Real-ESRGAN, on the
in-between frames. Speed: seconds of a guided in-between frame (Lanczos + transfer) as a
fraction of a per-frame Real-ESRGAN frame (after the model has loaded). Temporal stability:
for each pair of consecutive frames, frame i+1 of a render warped onto frame i by the flow
between the SD sources (full resolution), mean absolute difference (grey levels, RGB) where
that flow is confident (track.trusted_flow >= 0.5); lower flickers less. Each render runs in a
process of its own, so its peak RSS is its own.

    python benchmarks/guided.py [--frames 33] [--every 8] [--start 0] [--flow-scale 0.5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _common import SAMPLE, max_rss_mb, median

SIZE = (1280, 720)
REALESRGAN = {"model": "", "sharpen": 0.0}
LANCZOS = {"sharpen": 0.0}
CONFIDENT = 0.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=33, help="frames rendered (>= 3)")
    parser.add_argument("--every", type=int, default=8, help="keyframe spacing")
    parser.add_argument("--start", type=int, default=0, help="first frame (a keyframe)")
    parser.add_argument("--flow-scale", type=float, default=0.5)
    parser.add_argument("--child", choices=("per-frame", "guided"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    indices = list(range(args.start, args.start + args.frames))
    keys = indices[:: args.every]
    if args.child:
        render = per_frame if args.child == "per-frame" else guided
        frames, result = render(indices, keys, args.flow_scale)
        np.save(args.out, np.stack(frames))
        print(json.dumps({**result, "peak_rss_mb": max_rss_mb()}))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        renders = {name: child(name, args, Path(folder) / f"{name}.npy")
                   for name in ("per-frame", "guided")}
    sources = read(indices)
    lanczos = [upscaler("lanczos").upscale(s, SIZE, LANCZOS, cancel()) for s in sources]
    report(args, indices, keys, sources, renders, lanczos, time.perf_counter() - started)


def child(name: str, args: argparse.Namespace, out: Path) -> tuple[np.ndarray, dict[str, Any]]:
    print(f"{name} ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--child", name, "--out", str(out),
               "--frames", str(args.frames), "--every", str(args.every),
               "--start", str(args.start), "--flow-scale", str(args.flow_scale)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return np.load(out), json.loads(done.stdout.strip().splitlines()[-1])


# --- the renders (each in its own process) ---


def per_frame(indices: list[int], keys: list[int], flow_scale: float
              ) -> tuple[list[np.ndarray], dict[str, Any]]:
    expensive, load = realesrgan()
    frames, seconds = [], []
    for source in read(indices):
        t0 = time.perf_counter()
        frames.append(expensive.upscale(source, SIZE, REALESRGAN, cancel()))
        seconds.append(time.perf_counter() - t0)
    return frames, {"load": load, "seconds": seconds}


def guided(indices: list[int], keys: list[int], flow_scale: float
           ) -> tuple[list[np.ndarray], dict[str, Any]]:
    from sdhd_studio.ml.guide import Guide, transfer_detail

    expensive, load = realesrgan()
    fast = upscaler("lanczos")
    sources = dict(zip(indices, read(indices), strict=True))
    frames, guides, key_seconds = {}, {}, []
    for key in keys:
        t0 = time.perf_counter()
        frames[key] = expensive.upscale(sources[key], SIZE, REALESRGAN, cancel())
        key_seconds.append(time.perf_counter() - t0)
        guides[key] = (sources[key], fast.upscale(sources[key], SIZE, LANCZOS, cancel()),
                       frames[key])
    fast_seconds, transfer_seconds = [], []
    for index in indices:
        if index in guides:
            continue
        t0 = time.perf_counter()
        picture = fast.upscale(sources[index], SIZE, LANCZOS, cancel())
        t1 = time.perf_counter()
        nearest = [k for k in (max((k for k in keys if k < index), default=None),
                               min((k for k in keys if k > index), default=None)) if k is not None]
        frames[index] = transfer_detail(
            sources[index], picture, [Guide(*guides[k], abs(index - k)) for k in nearest],
            flow_scale, cancel())
        transfer_seconds.append(time.perf_counter() - t1)
        fast_seconds.append(t1 - t0)
    return [frames[i] for i in indices], {
        "load": load, "key_seconds": key_seconds, "fast_seconds": fast_seconds,
        "transfer_seconds": transfer_seconds,
    }


def realesrgan() -> tuple[Any, float]:
    from sdhd_studio.ml import registry
    from sdhd_studio.ml.runtime import Runtime

    t0 = time.perf_counter()
    model = registry.get("upscale", "realesrgan").factory(Runtime(device="cpu"))
    # The first call loads the weights and starts the runtime; a corner is enough for that.
    model.upscale(np.zeros((64, 64, 3), np.uint8), (128, 128), REALESRGAN, cancel())
    return model, time.perf_counter() - t0


def upscaler(name: str) -> Any:
    from sdhd_studio.ml import registry
    from sdhd_studio.ml.runtime import Runtime

    return registry.get("upscale", name).factory(Runtime(device="cpu"))


def read(indices: list[int]) -> list[np.ndarray]:
    from sdhd_studio.media.reader import FrameReader

    with FrameReader(str(SAMPLE)) as reader:
        return [reader.read(i) for i in indices]


def cancel() -> Any:
    from sdhd_studio.core.cancel import CancelToken

    return CancelToken()


# --- the figures (in the parent) ---


def flicker(frames: list[np.ndarray], sources: list[np.ndarray]) -> list[float]:
    """Per consecutive pair: mean |frame i - frame i+1 warped onto it| where flow is sure."""
    from sdhd_studio.ml import flow
    from sdhd_studio.ml.track import trusted_flow

    values = []
    for i in range(len(frames) - 1):
        forward, confidence = trusted_flow(sources[i], sources[i + 1], 1.0)
        sure = cv2.resize(confidence, SIZE) >= CONFIDENT
        moved = flow.warp(frames[i + 1], forward).astype(np.float32)
        values.append(float(np.abs(frames[i].astype(np.float32) - moved).mean(axis=2)[sure].mean()))
    return values


def report(args: argparse.Namespace, indices: list[int], keys: list[int],
           sources: list[np.ndarray], renders: dict[str, tuple[np.ndarray, dict[str, Any]]],
           lanczos: list[np.ndarray], elapsed: float) -> None:
    from sdhd_studio.media.quality import psnr_y

    truth, expensive = renders["per-frame"]
    ours, timing = renders["guided"]
    between = [n for n, i in enumerate(indices) if i not in keys]
    guided_psnr = [psnr_y(ours[n], truth[n]) for n in between]
    lanczos_psnr = [psnr_y(lanczos[n], truth[n]) for n in between]
    gains = [g - s for g, s in zip(guided_psnr, lanczos_psnr, strict=True)]
    per_frame_s = median(expensive["seconds"])
    between_s = [f + t for f, t in zip(timing["fast_seconds"], timing["transfer_seconds"],
                                       strict=True)]
    whole_guided = sum(timing["key_seconds"]) + sum(between_s)
    stability = {name: flicker(list(frames), sources)
                 for name, frames in (("per-frame", truth), ("guided", ours),
                                      ("lanczos", lanczos))}
    print(f"command: python {' '.join(sys.argv)}")
    print(f"task: {SAMPLE.name} frames {indices[0]}-{indices[-1]} ({len(indices)}), 640x360 -> "
          f"{SIZE[0]}x{SIZE[1]}; keyframes {', '.join(map(str, keys))}; "
          f"{len(between)} in-between frames; flow_scale {args.flow_scale}; "
          f"{elapsed:.0f} s in all\n")
    print("| in-between frames vs per-frame Real-ESRGAN | median | min | max |")
    print("|---|---|---|---|")
    for name, values in (("guided PSNR Y dB", guided_psnr), ("lanczos PSNR Y dB", lanczos_psnr),
                         ("gain dB", gains)):
        print(f"| {name} | {median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    print("\n| time | median s |")
    print("|---|---|")
    print(f"| per-frame Real-ESRGAN frame (load {expensive['load']:.1f} s apart) "
          f"| {per_frame_s:.3f} |")
    print(f"| guided in-between frame: Lanczos {median(timing['fast_seconds']):.3f} + transfer "
          f"{median(timing['transfer_seconds']):.3f} | {median(between_s):.3f} "
          f"(**{100 * median(between_s) / per_frame_s:.1f}%** of per-frame) |")
    print(f"| whole clip: guided {whole_guided:.1f} s vs per-frame "
          f"{sum(expensive['seconds']):.1f} s | "
          f"{100 * whole_guided / sum(expensive['seconds']):.1f}% |")
    print("\n| render | flicker: median (mean, max) grey levels | peak RSS MB |")
    print("|---|---|---|")
    rss = {"per-frame": expensive["peak_rss_mb"], "guided": timing["peak_rss_mb"]}
    for name, values in stability.items():
        peak = f"{rss[name]:.0f}" if name in rss else "(not measured apart)"
        print(f"| {name} | {median(values):.2f} ({statistics.mean(values):.2f}, "
              f"{max(values):.2f}) | {peak} |")


if __name__ == "__main__":
    main()
