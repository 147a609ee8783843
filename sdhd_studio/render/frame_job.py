"""Making one frame: read the source frame, inpaint it if masked, upscale it, store it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.images import read_mask
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.plan import FrameJob


class FrameRenderer:
    """Callable the scheduler runs on worker threads, one job at a time per thread.

    The workers share one decoder: the scheduler hands out neighbouring frames, so one reader
    decodes each picture once, where a reader per thread would decode every picture in each
    thread to walk past its neighbours' frames. Decoding is cheap next to the backends, so the
    lock costs little. Backends come from the registry's process-wide instances: a backend that
    is not thread-safe (a diffusers pipeline) is one instance that one worker at a time uses,
    while the other workers decode, inpaint or store.
    """

    def __init__(self, cache: FrameCache, info: VideoInfo, runtime: Runtime | None = None) -> None:
        self.cache = cache
        self.info = info
        self.runtime = runtime or Runtime()
        self._reasons: dict[tuple[str, str, tuple[tuple[str, Any], ...]], str | None] = {}
        self._reader_lock = threading.Lock()
        self._readers: dict[str, FrameReader] = {}
        self._mask = lru_cache(maxsize=8)(self._load_mask)

    def __call__(self, job: FrameJob, cancel: CancelToken) -> np.ndarray:
        cancel.check()
        with self._reader_lock:
            frame = self._reader(job.source_path).read(job.index)
        if job.mask_path is not None and job.inpainter is not None:
            settings = job.inpaint_settings or {}
            inpainter, lock = self._backend("inpaint", job.inpainter, settings)
            mask = self._mask(job.mask_path)
            with lock:
                frame = inpainter.inpaint(frame, mask, settings, cancel)
        upscaler, lock = self._backend("upscale", job.upscaler, job.upscale_settings)
        with lock:
            out = upscaler.upscale(frame, job.size, job.upscale_settings, cancel)
        width, height = job.size
        if out.shape != (height, width, 3) or out.dtype != np.uint8:
            raise RuntimeError(
                f"{job.upscaler} returned a {out.shape} {out.dtype} frame, "
                f"expected ({height}, {width}, 3) uint8"
            )
        self.cache.put(job.key, out)
        self.cache.mark_rendered(job.index)
        return out

    def close(self) -> None:
        with self._reader_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()

    def _reader(self, path: str) -> FrameReader:
        if path not in self._readers:
            self._readers[path] = FrameReader(path, self.info)
        return self._readers[path]

    def _backend(
        self, kind: registry.Kind, name: str, settings: Mapping[str, Any]
    ) -> tuple[Any, AbstractContextManager]:
        """The backend's instance and lock; BackendError, fast, if it cannot run here (its
        answer is kept per setting values, so a render missing a model fails every frame
        without looking for the model each time)."""
        spec = registry.get(kind, name)
        asked = (kind, name, tuple(sorted(settings.items())))
        if asked not in self._reasons:
            self._reasons[asked] = spec.unusable_reason(settings)
        if self._reasons[asked]:
            raise BackendError(f"{name} cannot run here: {self._reasons[asked]}")
        return registry.instance(spec, self.runtime)

    def _load_mask(self, path: str) -> np.ndarray:
        return read_mask(path, (self.info.width, self.info.height))
