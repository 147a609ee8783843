"""Train the compact x2 net of the `realtime` or `restore` upscaler on CPU, reproducibly.

    nice -n 10 python training/train.py realtime [--steps N] [--minutes M]

Fixed seed; the data list is training/data.py, the degradations training/degrade.py. Writes
training/runs/KIND/: log.txt (loss, and held-out PSNR-Y against Lanczos every few hundred
steps), checkpoint.pt (every few minutes; a rerun resumes from it) and, at the end,
KIND.safetensors with the card's figures in its metadata. `export.py` puts it in the package.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
import degrade  # noqa: E402

from sdhd_studio.media.quality import psnr_y  # noqa: E402
from sdhd_studio.ml.nets.compact_x2 import build  # noqa: E402

SHAPES = {"realtime": (32, 4), "restore": (32, 4)}  # default (features, convs)
PATCH = 48  # input crop side; the truth is 96
BATCH = 16
# Of the samples, the share from the MPEG-2 round-tripped clips (restore: blocking is half its
# job).
MPEG2_SHARE = {"realtime": 0.25, "restore": 0.5}
SEED = 0
CHECKPOINT_MINUTES = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=degrade.KINDS)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--minutes", type=float, default=40, help="wall-clock cap")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--shape", type=int, nargs=2, metavar=("FEATURES", "CONVS"),
                        help="the net's width and depth (default: the kind's, see SHAPES)")
    parser.add_argument("--run", help="name of the run folder under runs/ (default: KIND)")
    parser.add_argument("--init", type=Path, help="start from these weights (a .safetensors "
                        "of the same shape), e.g. the realtime net for restore")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine's cores are shared
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    out = Path(__file__).parent / "runs" / (args.run or args.kind)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.txt").open("a")

    def say(text: str) -> None:
        print(text, file=log, flush=True)

    pictures = [p for _, p in data.pictures("train")]
    # Each picture also at half size: SD material is often sharper per pixel than 720p frames.
    pictures += [cv2.resize(p, (p.shape[1] // 2, p.shape[0] // 2), interpolation=cv2.INTER_AREA)
                 for p in pictures if min(p.shape[:2]) >= 4 * PATCH]
    clips = [[p for label, p in data.pictures("train") if label.startswith(name)]
             for name in ("bigbuckbunny.mp4", "carphone_pristine.mp4")]
    pairs = [pair for clip in clips for pair in degrade.mpeg2_pairs(clip, args.kind, rng)]
    held_out = held_out_crops(args.kind)
    weights = np.array([p.shape[0] * p.shape[1] for p in pictures], np.float64)
    weights /= weights.sum()

    shape = tuple(args.shape or SHAPES[args.kind])
    net = build(*shape)
    if args.init:
        net.load_state_dict(load_file(str(args.init)))
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    step = 0
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        net.load_state_dict(saved["net"])
        optimizer.load_state_dict(saved["optimizer"])
        step, rng = saved["step"], saved["rng"]
        say(f"resumed at step {step}")
    else:
        say(f"{args.kind}: CompactX2{shape}, "
            f"{sum(p.numel() for p in net.parameters())} params, {len(pictures)} pictures, "
            f"{len(pairs)} MPEG-2 pairs, batch {BATCH}x{PATCH}px, {args.steps} steps, "
            f"lr {args.lr} cosine, seed {SEED}, from {args.init or 'random weights'}")
    started = last_save = time.monotonic()
    losses = []
    while step < args.steps and time.monotonic() - started < args.minutes * 60:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        low, high = batch(pictures, weights, pairs, args.kind, rng)
        loss = functional.l1_loss(net(low), high)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 250 == 0 or step == args.steps:
            gain = evaluate(net, held_out)
            say(f"step {step} lr {lr:.2e} loss {np.mean(losses):.4f} held-out "
                f"PSNR-Y {gain[0]:.2f} dB vs Lanczos {gain[1]:.2f} ({gain[0] - gain[1]:+.2f}) "
                f"{time.monotonic() - started:.0f} s")
            losses = []
        if time.monotonic() - last_save > CHECKPOINT_MINUTES * 60:
            torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": step, "rng": rng}, checkpoint)
            last_save = time.monotonic()
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "rng": rng}, checkpoint)
    psnr, lanczos = evaluate(net, held_out)
    metadata = {"kind": args.kind, "features": str(shape[0]), "convs": str(shape[1]),
                "steps": str(step), "seed": str(SEED),
                "held_out_psnr_y": f"{psnr:.2f}", "held_out_lanczos_psnr_y": f"{lanczos:.2f}"}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(out / f"{args.kind}.safetensors"), metadata=metadata)
    say(f"done: {json.dumps(metadata)}")


def batch(pictures: list[np.ndarray], weights: np.ndarray,
          pairs: list[tuple[np.ndarray, np.ndarray]], kind: str,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    lows, highs = [], []
    for _ in range(BATCH):
        if rng.random() < MPEG2_SHARE[kind]:
            high, low = pairs[rng.integers(len(pairs))]
            y = int(rng.integers(0, low.shape[0] - PATCH + 1))
            x = int(rng.integers(0, low.shape[1] - PATCH + 1))
            low = low[y : y + PATCH, x : x + PATCH]
            high = high[2 * y : 2 * y + 2 * PATCH, 2 * x : 2 * x + 2 * PATCH]
        else:
            picture = pictures[rng.choice(len(pictures), p=weights)]
            y = int(rng.integers(0, picture.shape[0] - 2 * PATCH + 1))
            x = int(rng.integers(0, picture.shape[1] - 2 * PATCH + 1))
            high = picture[y : y + 2 * PATCH, x : x + 2 * PATCH]
            low = degrade.degrade(high, kind, rng)
        if rng.random() < 0.5:
            low, high = low[:, ::-1], high[:, ::-1]
        if rng.random() < 0.5:  # transposed: vertical detail seen as horizontal
            low, high = low.transpose(1, 0, 2), high.transpose(1, 0, 2)
        lows.append(low)
        highs.append(high)

    def tensor(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)

    return tensor(lows), tensor(highs)


def held_out_crops(kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, truth) for a 256x256 centre crop of every held-out picture, degraded with a
    fixed seed as training degrades (realtime: plain area x2, the benchmark's clean case)."""
    rng = np.random.default_rng(1234)
    crops = []
    for _, picture in data.pictures("held_out"):
        h, w = picture.shape[:2]
        truth = picture[(h - 256) // 2 : (h + 256) // 2, (w - 256) // 2 : (w + 256) // 2]
        low = (cv2.resize(truth, (128, 128), interpolation=cv2.INTER_AREA)
               if kind == "realtime" else degrade.degrade(truth, kind, rng))
        crops.append((low, truth))
    return crops


def evaluate(
    net: torch.nn.Module, crops: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    """Mean PSNR-Y of the net and of Lanczos over the held-out crops."""
    ours, lanczos = [], []
    with torch.inference_mode():
        for low, truth in crops:
            x = torch.from_numpy(low).permute(2, 0, 1)[None].float().div(255)
            y = net(x).clamp(0, 1).mul(255).round()[0].permute(1, 2, 0).byte().numpy()
            ours.append(psnr_y(y, truth))
            lanczos.append(psnr_y(cv2.resize(low, (256, 256), interpolation=cv2.INTER_LANCZOS4),
                                  truth))
    return float(np.mean(ours)), float(np.mean(lanczos))


if __name__ == "__main__":
    main()
