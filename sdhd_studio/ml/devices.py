"""Which compute device the learned backends run on, and why.

`auto` prefers CUDA, then Apple's MPS, then the CPU. Asking imports torch, which takes a second
or two, so callers that must stay responsive (the editor) ask from a worker thread.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from sdhd_studio.core import build
from sdhd_studio.core.errors import BackendError

PREFERENCES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class Device:
    name: str  # torch device string: "cuda:0", "mps" or "cpu"
    label: str  # what a user reads: the GPU's name and memory, or the CPU's cores
    reason: str  # why this one was picked

    @property
    def half_precision(self) -> bool:
        """fp16 halves memory and doubles speed on CUDA; CPUs compute it slowly or not at all."""
        return self.name.startswith("cuda")


@functools.cache
def pick_device(preference: str = "auto") -> Device:
    """The device for `preference`; BackendError when a named device is not available."""
    if preference not in PREFERENCES:
        raise BackendError(f"unknown device {preference!r}; use one of {', '.join(PREFERENCES)}")
    cpu = Device("cpu", f"CPU ({os.cpu_count() or 1} cores)", "")
    if preference == "cpu":
        return Device(cpu.name, cpu.label, "asked for")
    if no_torch := build.missing("torch"):  # the lite build: ncnn runs on the CPU
        if preference == "auto":
            return Device(cpu.name, cpu.label, f"a GPU {no_torch}")
        raise BackendError(f"{preference} {no_torch}")
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference in ("auto", "cuda") and cuda:
        props = torch.cuda.get_device_properties(0)
        why = "asked for" if preference == "cuda" else "a CUDA GPU is available"
        return Device("cuda:0", f"{props.name} ({props.total_memory / 2**30:.0f} GB)", why)
    if preference in ("auto", "mps") and mps:
        why = "asked for" if preference == "mps" else "Apple GPU (MPS) available, no CUDA"
        return Device("mps", "Apple GPU (MPS)", why)
    if preference != "auto":
        raise BackendError(f"{preference} was asked for but this machine's torch cannot use it")
    return Device(cpu.name, cpu.label, "no CUDA or MPS GPU found")
