"""Reading a weights file a user points at, safely: safetensors as is, anything else only as
plain tensors (`torch.load(weights_only=True)`), since a pickle can run code when loaded."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from sdhd_studio.core.errors import BackendError


def read_tensors(path: Path) -> Any:
    """What `path` holds (usually a dict of tensors); BackendError, in one line, when it
    cannot be read or holds pickled objects."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, truncated or not weights: the same to a user
        if type(exc).__name__ == "UnpicklingError":  # torch's advice (weights_only=False) is
            raise BackendError(  # the one thing not to do with a stranger's file
                f"{path} holds pickled objects, not just tensors: refused, since loading them "
                "could run code"
            ) from None
        first_line = (str(exc).strip() or "no details").splitlines()[0]
        raise BackendError(
            f"cannot read weights file {path}: {type(exc).__name__}: {first_line}"
        ) from None


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
