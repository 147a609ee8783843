"""Making one frame: read the source frame, inpaint it if masked, upscale it, store it."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.images import read_mask
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import registry
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.plan import FrameJob


class FrameRenderer:
    """Callable the scheduler runs on worker threads, one job at a time per thread.

    The workers share one decoder: the scheduler hands out neighbouring frames, so one reader
    decodes each picture once, where a reader per thread would decode every picture in each
    thread to walk past its neighbours' frames. Decoding is cheap next to the backends, so the
    lock costs little. Thread-safe backends are shared; the others get one instance per thread,
    so a pipeline that is not thread-safe is never used concurrently.
    """

    def __init__(self, cache: FrameCache, info: VideoInfo) -> None:
        self.cache = cache
        self.info = info
        self._local = threading.local()
        self._lock = threading.Lock()
        self._shared: dict[tuple[str, str], Any] = {}
        self._reader_lock = threading.Lock()
        self._readers: dict[str, FrameReader] = {}
        self._mask = lru_cache(maxsize=8)(self._load_mask)

    def __call__(self, job: FrameJob, cancel: CancelToken) -> np.ndarray:
        cancel.check()
        with self._reader_lock:
            frame = self._reader(job.source_path).read(job.index)
        if job.mask_path is not None and job.inpainter is not None:
            inpainter = self._backend("inpaint", job.inpainter)
            mask = self._mask(job.mask_path)
            frame = inpainter.inpaint(frame, mask, job.inpaint_settings, cancel)
        upscaler = self._backend("upscale", job.upscaler)
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

    def _backend(self, kind: registry.Kind, name: str) -> Any:
        owned = self._local.__dict__.setdefault("backends", {})
        if (kind, name) in owned:
            return owned[(kind, name)]
        spec = registry.require_usable(kind, name)
        if spec.thread_safe:
            with self._lock:
                if (kind, name) not in self._shared:
                    self._shared[(kind, name)] = spec.factory()
                owned[(kind, name)] = self._shared[(kind, name)]
        else:
            owned[(kind, name)] = spec.factory()
        return owned[(kind, name)]

    def _load_mask(self, path: str) -> np.ndarray:
        return read_mask(path, (self.info.width, self.info.height))
