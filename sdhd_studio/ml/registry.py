"""Backends by name: what each one is, which settings it reads, and whether it can run here.

A spec is cheap to create; the heavy work (importing torch, loading weights) happens in its
factory, when a render first needs the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError

Kind = Literal["upscale", "inpaint"]


class Upscaler(Protocol):
    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        """Return `image` (RGB uint8) resized to exactly `size` = (width, height)."""


class Inpainter(Protocol):
    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any], cancel: CancelToken
    ) -> np.ndarray:
        """Return `image` with the pixels where `mask` > 0 filled in; others unchanged."""


@dataclass(frozen=True)
class BackendSpec:
    name: str
    kind: Kind
    version: str  # goes into recipes: bump it when the backend's output changes
    uses: frozenset[str]  # the settings that change its output
    factory: Callable[[], Any]
    thread_safe: bool = True  # False: each worker gets its own instance
    description: str = ""
    check: Callable[[], str | None] = lambda: None  # why it cannot run here, or None

    def unusable_reason(self) -> str | None:
        return self.check()


_BACKENDS: dict[tuple[str, str], BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    _BACKENDS[(spec.kind, spec.name)] = spec
    return spec


def backends(kind: Kind | None = None) -> list[BackendSpec]:
    _load_builtins()
    return [s for (k, _), s in sorted(_BACKENDS.items()) if kind in (None, k)]


def get(kind: Kind, name: str) -> BackendSpec:
    """The backend `name` of `kind`; raises BackendError naming the alternatives."""
    _load_builtins()
    try:
        return _BACKENDS[(kind, name)]
    except KeyError:
        names = ", ".join(s.name for s in backends(kind))
        noun = "upscaler" if kind == "upscale" else "inpainter"
        raise BackendError(f"unknown {noun} {name!r}; available: {names}") from None


def require_usable(kind: Kind, name: str) -> BackendSpec:
    spec = get(kind, name)
    reason = spec.unusable_reason()
    if reason:
        raise BackendError(f"{spec.name} cannot run here: {reason}")
    return spec


def _load_builtins() -> None:
    from sdhd_studio.ml import classical  # noqa: F401 - registers on import
