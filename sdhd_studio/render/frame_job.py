"""Making frames: read the source frame, inpaint it if masked, upscale it, store it; or make
the in-between frames of frame-rate conversion from two finished frames."""

from __future__ import annotations

import threading
from collections import OrderedDict
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
from sdhd_studio.ml import guide, registry, track
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.plan import FrameJob, GuideRef, InterpolationJob, Job, MaskSource
from sdhd_studio.render.sources import open_reader

# How a frame's failure reads when its backend cannot run at all (a missing model): every frame
# that needs it fails the same way, and no quick preview stands in for the model.
UNUSABLE = "cannot run here"


class FrameRenderer:
    """Callable the scheduler runs on worker threads, one job at a time per thread.

    The workers share one decoder: the scheduler hands out neighbouring frames, so one reader
    decodes each picture once, where a reader per thread would decode every picture in each
    thread to walk past its neighbours' frames. Decoding is cheap next to the backends, so the
    lock costs little. Backends come from the registry's process-wide instances: a backend that
    is not thread-safe (a diffusers pipeline) is one instance that one worker at a time uses,
    while the other workers decode, inpaint or store.
    """

    def __init__(
        self,
        cache: FrameCache,
        info: VideoInfo,
        runtime: Runtime | None = None,
        transient: frozenset[str] = frozenset(),
    ) -> None:
        self.cache = cache
        self.transient = transient  # keys of frames handed back but not stored
        self.info = info
        self.runtime = runtime or Runtime()
        self._reasons: dict[tuple[str, str, tuple[tuple[str, Any], ...]], str | None] = {}
        self._reader_lock = threading.Lock()
        self._readers: dict[str, FrameReader] = {}
        self._mask = lru_cache(maxsize=8)(self._load_mask)
        self._guide_pictures: OrderedDict[tuple[str, str], tuple[np.ndarray, ...]] = OrderedDict()
        self._guides_lock = threading.Lock()

    def __call__(self, job: Job, cancel: CancelToken) -> np.ndarray | list[np.ndarray]:
        if isinstance(job, InterpolationJob):
            return self._between(job, cancel)
        return self._frame(job, cancel)

    def _frame(self, job: FrameJob, cancel: CancelToken) -> np.ndarray:
        cancel.check()
        frame = self._prepared(job.source_path, job.index, job.inpainter, job.inpaint_settings,
                               job.mask, job.neighbours, cancel)
        out = self._upscale(frame, job.upscaler, job.size, job.upscale_settings, cancel)
        if job.guides:
            guides = [self._guide(job, ref, cancel) for ref in job.guides]
            out = guide.transfer_detail(frame, out, guides, job.flow_scale, cancel)
        if job.key not in self.transient:
            self.cache.put(job.key, out)
        return out

    def _between(self, job: InterpolationJob, cancel: CancelToken) -> list[np.ndarray]:
        cancel.check()
        a, b = self.cache.get(job.a_key), self.cache.get(job.b_key)
        interpolator, lock = self._backend("interpolate", job.interpolator, job.settings)
        with lock:
            images = interpolator.interpolate(
                a, b, [float(t) for t, _ in job.outputs], job.settings, cancel
            )
        for (_, key), image in zip(job.outputs, images, strict=True):
            if image.shape != a.shape or image.dtype != np.uint8:
                raise RuntimeError(f"{job.interpolator} returned a {image.shape} {image.dtype} "
                                   f"frame, expected {a.shape} uint8")
            self.cache.put(key, image)
        return images

    def _prepared(
        self,
        source: str,
        index: int,
        inpainter: str | None,
        settings: Mapping[str, Any] | None,
        mask: MaskSource | None,
        neighbours: tuple[tuple[int, MaskSource | None], ...],
        cancel: CancelToken,
    ) -> np.ndarray:
        """The source frame, inpainted where its mask says."""
        frame = self._read(source, index)
        if mask is None or inpainter is None:
            return frame
        settings = settings or {}
        backend, lock = self._backend("inpaint", inpainter, settings)
        spec = registry.get("inpaint", inpainter)
        extra: dict[str, Any] = {}
        if spec.temporal:
            blank = np.zeros(frame.shape[:2], np.uint8)
            extra["neighbours"] = [
                (offset, self._read(source, index + offset),
                 blank if m is None else self._mask_of(source, m))
                for offset, m in neighbours
            ]
        picture = self._mask_of(source, mask)
        with lock:
            return backend.inpaint(frame, picture, settings, cancel, **extra)

    def _upscale(
        self, frame: np.ndarray, name: str, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        upscaler, lock = self._backend("upscale", name, settings)
        with lock:
            out = upscaler.upscale(frame, size, settings, cancel)
        width, height = size
        if out.shape != (height, width, 3) or out.dtype != np.uint8:
            raise RuntimeError(
                f"{name} returned a {out.shape} {out.dtype} frame, "
                f"expected ({height}, {width}, 3) uint8"
            )
        return out

    def _guide(self, job: FrameJob, ref: GuideRef, cancel: CancelToken) -> guide.Guide:
        """A keyframe's pictures for detail transfer: its source as inpainted, its fast upscale
        (the same upscaler and settings as the guided frame) and its finished frame. The frames
        between two keyframes all ask for the same ones, so the last few are kept."""
        slot = (ref.key, repr((job.upscaler, sorted(job.upscale_settings.items()), job.size)))
        with self._guides_lock:
            pictures = self._guide_pictures.get(slot)
        if pictures is None:
            try:
                expensive = self.cache.get(ref.key)
            except KeyError:
                raise BackendError(f"keyframe {ref.index} is not rendered") from None
            source = self._prepared(job.source_path, ref.index, ref.inpainter,
                                    ref.inpaint_settings, ref.mask, (), cancel)
            fast = self._upscale(source, job.upscaler, job.size, job.upscale_settings, cancel)
            pictures = (source, fast, expensive)
            with self._guides_lock:
                self._guide_pictures[slot] = pictures
                while len(self._guide_pictures) > 4:  # two keyframes either side, at most
                    self._guide_pictures.popitem(last=False)
        return guide.Guide(*pictures, abs(job.index - ref.index))

    def _mask_of(self, source: str, mask: MaskSource) -> np.ndarray:
        """The mask for `mask.frame`: as painted, or carried there by flow one frame at a time
        from the nearest frame whose carried mask is already in the cache."""
        key = mask.key
        if key is None:
            return self._mask(mask.path)
        try:
            return self.cache.get(key)
        except KeyError:
            pass
        step = 1 if mask.frame > mask.painted else -1
        start = mask.frame - step
        while start != mask.painted and mask.key_at(start) not in self.cache:
            start -= step
        carried = self._mask(mask.path) if start == mask.painted else self.cache.get(
            mask.key_at(start))
        for index in range(start, mask.frame, step):
            carried, _ = track.carry(carried, self._read(source, index),
                                     self._read(source, index + step), mask.flow_scale)
            self.cache.put(mask.key_at(index + step), carried)
        return carried

    def _read(self, source: str, index: int) -> np.ndarray:
        with self._reader_lock:
            return self._reader(source).read(index)

    def close(self) -> None:
        with self._reader_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()

    def _reader(self, path: str) -> FrameReader:
        if path not in self._readers:
            self._readers[path] = open_reader(path, self.info)
        return self._readers[path]

    def unusable(self, job: Job) -> str | None:
        """Why a backend `job` needs cannot run here (a missing model), or None."""
        if isinstance(job, InterpolationJob):
            needs = [("interpolate", job.interpolator, job.settings)]
        else:
            needs = [("upscale", job.upscaler, job.upscale_settings)]
            needs += [("inpaint", inpainter, settings or {})
                      for inpainter, settings, mask in (
                          (job.inpainter, job.inpaint_settings, job.mask),
                          *((g.inpainter, g.inpaint_settings, g.mask) for g in job.guides))
                      if inpainter is not None and mask is not None]
        for kind, name, settings in needs:
            reason = self._reason(kind, name, settings)
            if reason:
                return f"{name} {UNUSABLE}: {reason}"
        return None

    def _backend(
        self, kind: registry.Kind, name: str, settings: Mapping[str, Any]
    ) -> tuple[Any, AbstractContextManager]:
        """The backend's instance and lock; BackendError, fast, if it cannot run here."""
        reason = self._reason(kind, name, settings)
        if reason:
            raise BackendError(f"{name} {UNUSABLE}: {reason}")
        return registry.instance(registry.get(kind, name), self.runtime)

    def _reason(self, kind: registry.Kind, name: str, settings: Mapping[str, Any]) -> str | None:
        """Kept per setting values, so a render missing a model fails every frame without
        looking for the model each time."""
        asked = (kind, name, tuple(sorted(settings.items())))
        if asked not in self._reasons:
            self._reasons[asked] = registry.get(kind, name).unusable_reason(settings)
        return self._reasons[asked]

    def _load_mask(self, path: str) -> np.ndarray:
        return read_mask(path, (self.info.width, self.info.height))
