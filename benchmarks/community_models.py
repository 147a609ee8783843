"""The `model` upscaler beside `realesrgan`: seconds per frame and peak memory.

Frames of the bundled sample (640x360) go to 1280x720 on the CPU through
- `realesrgan` on torch with its default model (realesr-animevideov3), the baseline;
- `model` with the same weights written as a community .safetensors file: the same network
  and the same tiles;
- `model` with nets at their published sizes (random weights, which cost the same as trained
  ones), built by sdhd itself: a SPAN x4 of 48 features, a RealPLKSR x2 (64 features, 28
  blocks), and the transformers at their light sizes, SwinIR-S x2 (60 dims, 4 groups of 6
  blocks), DAT-light x2 (60 dims, 18 blocks) and OmniSR x2 (64 features, 5 groups).
Each frame runs in a fresh process (its peak RSS is its own), configurations taking turns
frame by frame; each loads its model, upscales the frame once (paying one-off allocations)
and again: the second run is the per-frame figure.

    python benchmarks/community_models.py [--frames 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import SAMPLE, median, time_upscaler

from sdhd_studio.media.probe import probe

SIZE = (1280, 720)
CONFIGS = {
    "realesrgan torch, realesr-animevideov3": ("realesrgan", ""),
    "model, realesr-animevideov3 as a .safetensors file": ("model", "av3.safetensors"),
    "model, SPAN x4 48 features (.safetensors)": ("model", "span-x4.safetensors"),
    "model, RealPLKSR x2 64 features (.safetensors)": ("model", "realplksr-x2.safetensors"),
    "model, SwinIR-S x2 (.safetensors)": ("model", "swinir-s-x2.safetensors"),
    "model, DAT-light x2 (.safetensors)": ("model", "dat-light-x2.safetensors"),
    "model, OmniSR x2 64 features (.safetensors)": ("model", "omnisr-x2.safetensors"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "MODEL", "FRAME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, model, frame = args.child
        print(json.dumps(measure(backend, model, int(frame))))
        return
    count = probe(str(SAMPLE)).frame_count
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="sdhd-community-") as folder:
        write_models(Path(folder))
        for frame in (count * (i + 1) // (args.frames + 1) for i in range(args.frames)):
            for label, (backend, name) in CONFIGS.items():
                model = str(Path(folder) / name) if name else ""
                result = subprocess.run(
                    [sys.executable, __file__, "--child", backend, model or "-", str(frame)],
                    capture_output=True, text=True,
                )
                if result.returncode:
                    print(f"{label} failed:\n{result.stderr}", file=sys.stderr)
                    continue
                results.setdefault(label, []).append(
                    json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{SAMPLE.name} 640x360 -> {SIZE[0]}x{SIZE[1]} on the CPU (torch fp32)\n")
    print("| configuration | frames | load s | first frame s | median s/frame (min-max) "
          "| peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for label, runs in results.items():
        times = [r["seconds"] for r in runs]
        print(f"| {label} | {len(runs)} | {median([r['load'] for r in runs]):.2f} "
              f"| {median([r['first'] for r in runs]):.2f} "
              f"| {median(times):.2f} ({min(times):.2f}-{max(times):.2f}) "
              f"| {max(r['peak_rss_mb'] for r in runs):.0f} |")


def write_models(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from sdhd_studio.ml import ncnn_model, realesrgan_nets
    from sdhd_studio.ml.nets import dat, omnisr, plksr, span, swinir
    from sdhd_studio.ml.realesrgan import wheel_files

    param, weights = wheel_files("realesr-animevideov3")
    _, state = realesrgan_nets.from_ncnn(ncnn_model.load(param, weights), param.name)
    save_file({k: torch.from_numpy(v) for k, v in state.items()}, folder / "av3.safetensors")
    torch.manual_seed(0)
    nets = {
        "span-x4": span.build(span.Arch(48, 4)),
        "realplksr-x2": plksr.build(plksr.Arch(64, 28, 2, 17, 16, real=True)),
        "swinir-s-x2": swinir.build(swinir.Arch(60, (6,) * 4, (6,) * 4, 8, 120,
                                                "pixelshuffledirect", 2)),
        "dat-light-x2": dat.build(dat.Arch(60, (18,), (2,), (8, 32), 120, "pixelshuffledirect", 2,
                                           three_convs=True)),
        "omnisr-x2": omnisr.build(omnisr.Arch(64, 5, 1, 2)),
    }
    for name, module in nets.items():
        save_file({k: v.contiguous() for k, v in module.state_dict().items()},
                  folder / f"{name}.safetensors")


def measure(backend: str, model: str, frame: int) -> dict:
    from sdhd_studio.ml.realesrgan import RealEsrganUpscaler
    from sdhd_studio.ml.runtime import Runtime
    from sdhd_studio.ml.upscale.community import CommunityUpscaler

    def make() -> RealEsrganUpscaler | CommunityUpscaler:
        if backend == "realesrgan":
            return RealEsrganUpscaler(Runtime(device="cpu"), "torch")
        return CommunityUpscaler(Runtime(device="cpu"))

    return time_upscaler(make, "" if model == "-" else model, frame, SIZE)[0]


if __name__ == "__main__":
    main()
