"""Backends by name: what each one is, which settings it reads, and whether it can run here.

A spec is cheap to create; the heavy work (importing torch, loading weights) happens in its
factory, when a render first needs the backend. `instance` keeps what a factory made for the
life of the process, so loaded models survive from one render to the next.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.runtime import Runtime

Kind = Literal["upscale", "inpaint", "interpolate"]
NOUNS = {"upscale": "upscaler", "inpaint": "inpainter", "interpolate": "interpolator"}
_BUILTIN_MODULES = (
    "classical", "diffusion", "interpolate", "realesrgan", "rife", "temporal_fill",
    "upscale.compact", "upscale.community",
)


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
        """Return `image` with the pixels where `mask` > 0 filled in; others unchanged.

        A backend registered with `temporal=True` also gets `neighbours`: nearby source frames
        and their masks, (frame offset, picture, mask), nearest first."""


class Interpolator(Protocol):
    def interpolate(
        self, a: np.ndarray, b: np.ndarray, times: Sequence[float], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        """The pictures between `a` and `b` (same-size RGB uint8) at each of `times` in (0, 1)."""


@dataclass(frozen=True)
class BackendSpec:
    name: str
    kind: Kind
    version: str  # goes into recipes: bump it when the backend's output changes
    uses: frozenset[str]  # the settings that change its output
    factory: Callable[[Runtime], Any]
    # False: one instance per runtime, used by one worker at a time. A diffusers pipeline is
    # not thread-safe, and one model per GPU is all its memory can hold.
    thread_safe: bool = True
    description: str = ""
    # Why it cannot run here with these settings (a missing model, say), or None. Must be
    # cheap: the editor asks whenever the settings it shows change.
    check: Callable[[Mapping[str, Any]], str | None] = lambda settings: None
    # An inpainter that fills from nearby frames: it is handed them (see Inpainter).
    temporal: bool = False
    # The content digest of the weights file these settings select, when that is a file a user
    # can replace at the same path; it goes into recipes so such a swap re-renders.
    weights: Callable[[Mapping[str, Any]], str | None] = lambda settings: None
    # Why the model these settings name is none this backend could ever use (an unknown
    # name, a file of the wrong kind), as opposed to one merely missing here: refused when
    # the setting is made, not when frames fail.
    unknown_model: Callable[[Mapping[str, Any]], str | None] = lambda settings: None
    # Remaking its frame costs no more than storing the frame and reading it back (a classical
    # resize: ~7 ms a 720p frame against ~10 ms to compress and ~11 ms to decompress it). A
    # one-shot job whose project is removed afterwards need not store such frames.
    cheap: bool = False

    def unusable_reason(self, settings: Mapping[str, Any] | None = None) -> str | None:
        from sdhd_studio.core.settings import DEFAULTS

        return self.check({**DEFAULTS, **(settings or {})})


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
        raise BackendError(f"unknown {NOUNS[kind]} {name!r}; available: {names}") from None


def require_usable(
    kind: Kind, name: str, settings: Mapping[str, Any] | None = None
) -> BackendSpec:
    spec = get(kind, name)
    reason = spec.unusable_reason(settings)
    if reason:
        raise BackendError(f"{spec.name} cannot run here: {reason}")
    return spec


_instances: dict[tuple[Kind, str, Runtime], tuple[Any, contextlib.AbstractContextManager]] = {}
_instances_lock = threading.Lock()


def instance(spec: BackendSpec, runtime: Runtime) -> tuple[Any, contextlib.AbstractContextManager]:
    """The process's instance of `spec` for `runtime`, and the lock to hold while using it.

    Made on first use and kept, so a second render (or the editor's next run) finds its models
    loaded. A thread-safe backend comes with a no-op lock.
    """
    key = (spec.kind, spec.name, runtime)
    with _instances_lock:
        if key not in _instances:
            lock = contextlib.nullcontext() if spec.thread_safe else threading.Lock()
            _instances[key] = (spec.factory(runtime), lock)
        return _instances[key]


def release_instances() -> None:
    """Forget every loaded backend (the memory goes once no render still holds one)."""
    with _instances_lock:
        _instances.clear()


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:  # each registers its backends on import
        importlib.import_module(f"sdhd_studio.ml.{module}")
