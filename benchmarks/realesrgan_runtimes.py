"""Real-ESRGAN on torch and on ncnn, side by side: seconds per frame and peak memory.

Frames of the bundled sample (640x360) go to 1280x720 through the `realesrgan` backend (tiles,
x4 network, area resize) with each model on each runtime this machine has: torch fp32 and ncnn
on the CPU, torch fp16 on CUDA, ncnn on Vulkan. Every frame runs in a fresh process, so its
peak RSS (ru_maxrss) belongs to one configuration, and the configurations take turns frame by
frame, so a busy spell on a shared machine slows them alike. Each process loads the model,
upscales its frame once (the first frame, which also pays one-off allocations) and again: the
second run is the per-frame figure a long render sees.

    python benchmarks/realesrgan_runtimes.py [--frames 3] [--x4plus-frames 1]
        [--models realesr-animevideov3,realesrgan-x4plus-anime,realesrgan-x4plus]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import SAMPLE, median, time_upscaler

from sdhd_studio.media.probe import probe

MODELS = ("realesr-animevideov3", "realesrgan-x4plus-anime", "realesrgan-x4plus")
SIZE = (1280, 720)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--x4plus-frames", type=int, default=1,
                        help="frames for realesrgan-x4plus (~1 min a frame on 2 CPU cores)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "ENGINE", "DEVICE", "FRAME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, engine, device, frame = args.child
        print(json.dumps(measure(model, engine, device, int(frame))))
        return
    count = probe(str(SAMPLE)).frame_count
    results: dict[tuple[str, str], list[dict]] = {}
    for model in args.models.split(","):
        frames = args.x4plus_frames if model == "realesrgan-x4plus" else args.frames
        # Spread over the clip: different shots, not one picture three times.
        for frame in (count * (i + 1) // (frames + 1) for i in range(frames)):
            for engine, device, label in configurations():
                result = subprocess.run(
                    [sys.executable, __file__, "--child", model, engine, device, str(frame)],
                    capture_output=True, text=True,
                )
                if result.returncode:
                    print(f"{model} on {label} failed:\n{result.stderr}", file=sys.stderr)
                    continue
                run = json.loads(result.stdout.strip().splitlines()[-1])
                results.setdefault((model, label), []).append(run)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{SAMPLE.name} 640x360 -> {SIZE[0]}x{SIZE[1]}, realesrgan backend (default tiles)\n")
    print("| model | runtime | frames | load s | first frame s | median s/frame (min-max) "
          "| peak RSS MB | peak CUDA MB |")
    print("|---|---|---|---|---|---|---|---|")
    for (model, label), runs in results.items():
        times = [r["seconds"] for r in runs]
        cuda = [r["peak_cuda_mb"] for r in runs if r["peak_cuda_mb"] is not None]
        print(f"| {model} | {label} | {len(runs)} | {median([r['load'] for r in runs]):.2f} "
              f"| {median([r['first'] for r in runs]):.2f} "
              f"| {median(times):.2f} ({min(times):.2f}-{max(times):.2f}) "
              f"| {max(r['peak_rss_mb'] for r in runs):.0f} "
              f"| {format(max(cuda), '.0f') if cuda else '-'} |")


def configurations() -> list[tuple[str, str, str]]:
    """(engine, device preference, label) for each runtime this machine can run."""
    import ncnn
    import torch

    found = [("torch", "cpu", "torch fp32 CPU"), ("ncnn", "cpu", "ncnn CPU")]
    if torch.cuda.is_available():
        found.append(("torch", "cuda", f"torch fp16 CUDA ({torch.cuda.get_device_name(0)})"))
    if ncnn.get_gpu_count():
        found.append(("ncnn", "auto", "ncnn Vulkan"))
    return found


def measure(model: str, engine: str, device: str, frame: int) -> dict:
    from sdhd_studio.ml.realesrgan import RealEsrganUpscaler
    from sdhd_studio.ml.runtime import Runtime

    result, upscaler = time_upscaler(
        lambda: RealEsrganUpscaler(Runtime(device=device), engine),  # type: ignore[arg-type]
        model, frame, SIZE,
    )
    gpu = None
    if upscaler.device.startswith("cuda"):
        import torch

        gpu = torch.cuda.max_memory_allocated() / 2**20
    return {**result, "peak_cuda_mb": gpu}


if __name__ == "__main__":
    main()
