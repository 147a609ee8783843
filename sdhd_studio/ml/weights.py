"""Reading a weights file a user points at, safely: safetensors as is, anything else only as
plain tensors (`torch.load(weights_only=True)`), since a pickle can run code when loaded.
Telling what network a file holds needs only its tensors' shapes: `read_shapes` gets them
without reading the weights (the safetensors header; a memory-mapped torch zip)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sdhd_studio.core.errors import BackendError

Shape = tuple[int, ...]
# Where training code puts the state dict inside a checkpoint (BasicSR, Lightning, others);
# the first one present is taken, as spandrel does.
_WRAPPERS = ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model",
             "net")
_PREFIXES = ("module.", "netG.")  # DataParallel's and some GAN trainers' key prefixes
_MAX_HEADER = 100 << 20  # a safetensors header (JSON) longer than this is not a model's


def read_tensors(path: Path, mmap: bool = False) -> Any:
    """What `path` holds (usually a dict of tensors); BackendError, in one line, when it
    cannot be read or holds pickled objects. `mmap` maps a torch zip file instead of reading
    it, so its shapes cost nothing (files of the old format are read whole)."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        with warnings.catch_warnings():  # torch's "dispatching to torch.jit.load" for a
            warnings.simplefilter("ignore")  # TorchScript archive, which is refused below
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as exc:
                if not (mmap and "mmap" in str(exc)):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, truncated or not weights: the same to a user
        if type(exc).__name__ == "UnpicklingError":  # torch's advice (weights_only=False) is
            if "GLOBAL" not in str(exc):  # the one thing not to do with a stranger's file
                raise BackendError(f"cannot read weights file {path}: not a PyTorch "
                                   "checkpoint") from None
            raise BackendError(
                f"{path} holds pickled objects, not just tensors: refused, since loading them "
                "could run code"
            ) from None
        if "TorchScript" in str(exc):  # torch.load would hand it to torch.jit.load: code
            raise BackendError(f"{path} is a TorchScript archive (a program, not just "
                               "weights): refused; a state dict of it loads") from None
        first_line = (str(exc).strip() or "no details").splitlines()[0]
        raise BackendError(
            f"cannot read weights file {path}: {type(exc).__name__}: {first_line}"
        ) from None


def state_dict(checkpoint: Any, source: str) -> dict[str, Any]:
    """The flat {name: tensor} inside a checkpoint, unwrapped from a known wrapper key and
    stripped of a prefix every key shares; BackendError when there is none."""
    if isinstance(checkpoint, Mapping):
        wrapper = next((key for key in _WRAPPERS
                        if isinstance(checkpoint.get(key), Mapping)), None)
        if wrapper is not None:
            checkpoint = checkpoint[wrapper]
        elif len(checkpoint) == 1 and isinstance(next(iter(checkpoint.values())), Mapping):
            checkpoint = next(iter(checkpoint.values()))
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise BackendError(f"{source} does not hold a state dict")
    state = {str(key): value for key, value in checkpoint.items()}
    for prefix in _PREFIXES:
        if all(key.startswith(prefix) for key in state):
            state = {key.removeprefix(prefix): value for key, value in state.items()}
    return state


def read_shapes(path: Path) -> tuple[dict[str, Shape], dict[str, str]]:
    """The shapes of the tensors in `path`'s state dict, and its metadata (safetensors only),
    without reading the weights; BackendError as `read_tensors`."""
    if path.suffix.lower() != ".safetensors":
        state = state_dict(read_tensors(path, mmap=True), str(path))
        return {key: tuple(getattr(value, "shape", ())) for key, value in state.items()}, {}
    try:
        with open(path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > _MAX_HEADER:
                raise ValueError(f"a {length}-byte header")
            header = json.loads(file.read(length))
        metadata = header.pop("__metadata__", None) or {}
        shapes = {key: tuple(entry["shape"]) for key, entry in header.items()}
    except (OSError, ValueError, struct.error, TypeError, KeyError, AttributeError) as exc:
        raise BackendError(f"cannot read weights file {path}: not a safetensors file "
                           f"({type(exc).__name__})") from None
    return state_dict(shapes, str(path)), dict(metadata)


def check_shapes(
    want: Mapping[str, Shape], shapes: Mapping[str, Shape], source: str, title: str
) -> None:
    """BackendError naming the first difference between a network's state dict (`want`) and
    a file's (`shapes`)."""
    if set(want) != set(shapes):
        missing, extra = sorted(set(want) - set(shapes)), sorted(set(shapes) - set(want))
        raise BackendError(
            f"{source}: does not match {title}: missing {_few(missing)}; "
            f"unexpected {_few(extra)}"
        )
    for key, shape in want.items():
        if tuple(shapes[key]) != shape:
            raise BackendError(f"{source}: {key} is {tuple(shapes[key])}, {title} needs {shape}")


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "") or "none"


def file_digest(path: Path) -> str | None:
    """sha256 of the file at `path` (None when there is none), so that a weights file replaced
    at the same path changes the recipes that use it. Hashed once per size and modification
    time: plans are rebuilt on every edit."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
