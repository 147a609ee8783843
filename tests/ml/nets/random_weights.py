"""Weights for checking a net against recorded outputs of its authors' code: every parameter
set from seeded numpy noise (the same on any torch, whatever the net's own initialisation), so
that a wrong norm, bias, position table or mask changes the pixels."""

import numpy as np


def randomized(module, seed: int = 0):
    """`module` with each parameter (in name order) set to noise: weights scaled to their
    fan-in, norms' gains around 1, biases around 0, position tables large enough to matter
    beside the attention's logits. Returns it."""
    import torch
    from torch import nn

    norms = {f"{name}.weight" for name, m in module.named_modules()
             if isinstance(m, nn.LayerNorm | nn.BatchNorm2d | nn.GroupNorm)}
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, parameter in sorted(module.named_parameters()):
            noise = rng.standard_normal(tuple(parameter.shape))
            if name.endswith("relative_position_bias_table"):
                value = noise
            elif parameter.dim() > 1:
                value = noise * np.sqrt(1.0 / np.prod(parameter.shape[1:]))
            elif name in norms:
                value = 1 + 0.2 * noise
            else:
                value = 0.2 * noise
            parameter.copy_(torch.from_numpy(value.astype(np.float32)))
    return module


def picture(height: int, width: int, seed: int = 1):
    """A random RGB 0..1 picture, NCHW."""
    import torch

    return torch.from_numpy(
        np.random.default_rng(seed).random((1, 3, height, width), dtype=np.float32))
