"""Put a trained net into the package (its safetensors, with the training figures in the
metadata), and check that the backend's two runtimes, ncnn and torch, agree on it.

    python training/export.py realtime|restore
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sdhd_studio.ml.upscale.compact import _NcnnNet, _torch_net, weights_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("realtime", "restore"))
    parser.add_argument("--run", help="the run folder under runs/ (default: KIND)")
    args = parser.parse_args()
    weights = weights_file(args.kind)
    run = Path(__file__).parent / "runs" / (args.run or args.kind)
    shutil.copyfile(run / f"{args.kind}.safetensors", weights)
    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), np.uint8)
    difference = np.abs(_NcnnNet(weights)(frame) - _torch_net(weights, "cpu")(frame)).max()
    with safe_open(str(weights), "np") as file:
        print(file.metadata())
    print(f"{weights.name}: {weights.stat().st_size} bytes; ncnn against torch at most "
          f"{difference:.1e} grey levels apart")


if __name__ == "__main__":
    main()
