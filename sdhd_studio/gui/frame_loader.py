"""Loading what the preview shows, off the GUI thread: the source frame, the rendered frame (or
a quick stand-in when it is not rendered) and the frame's mask: as painted, or for a tracked
mask the one carried to this frame by optical flow once the engine has made it (the painted one
stands in until then).

Requests made while one is loading replace each other, so scrubbing or playback never queues
up stale frames: the preview shows the newest frame the loader could keep up with.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import SdhdError
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.gui.workers import WorkerPool
from sdhd_studio.media.images import read_mask
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.sources import open_reader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameRequest:
    index: int
    source_path: str
    info: VideoInfo
    cache: FrameCache
    key: str  # the frame's current recipe key
    done: bool  # the key is in the cache
    mask_path: str | None  # the painted mask's PNG
    size: tuple[int, int]  # output (width, height)
    mask_key: str | None = None  # a tracked mask: the cache key of the mask carried here


@dataclass(frozen=True)
class LoadedFrame:
    request: FrameRequest
    source: np.ndarray | None  # None when the source cannot decode this frame
    result: np.ndarray | None
    result_is_preview: bool
    mask: np.ndarray | None
    error: str | None = None
    mask_carried: bool = False  # the mask is the one tracking carried here, not the painted one


class FrameLoader(QObject):
    loaded = Signal(object)  # LoadedFrame

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = WorkerPool(1, self)
        self._lock = threading.Lock()
        self._pending: FrameRequest | None = None
        self._busy = False
        self._readers: dict[str, FrameReader] = {}
        self._wanted = "lanczos"  # the quick upscaler asked for, and the one made (name, it)
        self._upscaler = ("lanczos", registry.get("upscale", "lanczos").factory(Runtime()))
        # A held mask covers many frames: scrubbing through them reads its PNG once.
        self._read_mask = functools.lru_cache(maxsize=4)(read_mask)

    def set_quick_upscaler(self, name: str) -> None:
        """The upscaler of frames not rendered yet (a registry name); its model loads on the
        loader's thread at the next such frame, never on the GUI thread."""
        with self._lock:
            self._wanted = name

    def request(self, request: FrameRequest) -> None:
        with self._lock:
            self._pending = request
            if self._busy:
                return
            self._busy = True
        self._pool.run(self._work)

    def close(self) -> None:
        with self._lock:
            self._pending = None
        self._pool.waitForDone()
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def _work(self) -> None:
        while True:
            with self._lock:
                request, self._pending = self._pending, None
                if request is None:
                    self._busy = False
                    return
            try:
                frame = self._load(request)
            except Exception as exc:  # noqa: BLE001 - shown in the preview and the log
                log.exception("could not load frame %d", request.index)
                frame = LoadedFrame(request, None, None, True, None, str(exc))
            self.loaded.emit(frame)

    def _load(self, request: FrameRequest) -> LoadedFrame:
        error = None
        try:
            source: np.ndarray | None = self._reader(request).read(request.index)
        except SdhdError as exc:
            source, error = None, str(exc)
        result, preview = None, True
        if request.done:
            with contextlib.suppress(KeyError):  # deleted since (gc): use the stand-in
                result, preview = request.cache.get(request.key), False
        if result is None and source is not None:
            result = self._quick_upscaler().upscale(source, request.size, {}, CancelToken())
        mask = None
        if request.mask_key is not None:
            with contextlib.suppress(KeyError):  # not carried here yet
                mask = request.cache.get(request.mask_key)
        carried = mask is not None
        if mask is None and request.mask_path is not None:
            try:
                mask = self._read_mask(
                    request.mask_path, (request.info.width, request.info.height)
                )
            except SdhdError as exc:
                error = str(exc)
        return LoadedFrame(request, source, result, preview, mask, error, carried)

    def _quick_upscaler(self) -> Any:
        """Made here, on the loader's own thread, for it alone (no lock to share)."""
        with self._lock:
            name = self._wanted
        if name != self._upscaler[0]:
            self._upscaler = (name, registry.get("upscale", name).factory(Runtime()))
        return self._upscaler[1]

    def _reader(self, request: FrameRequest) -> FrameReader:
        reader = self._readers.get(request.source_path)
        if reader is None:
            reader = self._readers[request.source_path] = open_reader(
                request.source_path, request.info
            )
        return reader
