"""A loaded image network on a torch device, as the tiler calls it: RGB uint8 tile in, the
upscaled tile out as float RGB 0..255. torch is imported only when one is made."""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchImageNet:
    def __init__(self, module: Any, device: str, half: bool = True) -> None:
        import torch

        self.device = device
        # fp16 halves memory and doubles speed on CUDA; CPUs compute it slowly or not at all.
        # `half=False` for a network whose values overflow fp16 (its file says so).
        half = half and device.startswith("cuda")
        self.dtype = torch.float16 if half else torch.float32
        # Channels-last convolutions ran 30-40% faster on the CPU (oneDNN; 22.7 against
        # 39.6 ms for the compact x2 net at 160x90) and suit CUDA's tensor cores; MPS has
        # lacked some channels-last kernels, so it keeps the default.
        self.layout = torch.preserve_format if device == "mps" else torch.channels_last
        self.module = module.eval().to(device=device, dtype=self.dtype, memory_format=self.layout)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(tile).to(self.device).permute(2, 0, 1)[None]
            x = x.to(self.dtype, memory_format=self.layout).div_(255)
            y = self.module(x).clamp_(0, 1).mul_(255)
            return y[0].permute(1, 2, 0).float().cpu().numpy()
