"""The frame cache as the editor last saw it, kept current from render events.

After every edit each frame's state must be worked out again for the new recipe keys. Doing that
from memory instead of scanning the cache folder keeps it quick on long videos, so editing never
stalls the editor. Only the GUI thread touches a view: events reach it through the GUI's queue.
"""

from __future__ import annotations

import contextlib
import os

from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.events import Event, FrameDone, FrameFailed
from sdhd_studio.render.status import FrameStatus


class CacheView:
    def __init__(self, cache: FrameCache) -> None:
        self.cache = cache
        self.keys: set[str] = set()
        self.rendered: set[int] = set()
        self.failures: dict[str, str] = {}
        self.bytes = 0
        self.reload()

    def reload(self) -> None:
        """Read everything again from disk (on open, and after work done outside the editor's
        own renders, such as an export)."""
        sizes = self.cache.sizes()
        self.keys = set(sizes)
        self.rendered = self.cache.rendered_frames()
        self.failures = self.cache.failures()
        self.bytes = sum(sizes.values())

    def apply(self, event: Event) -> None:
        if isinstance(event, FrameDone):
            if event.key not in self.keys:
                self.keys.add(event.key)
                self.bytes += self._size(event.key)
            self.rendered.add(event.index)
            self.failures.pop(event.key, None)
        elif isinstance(event, FrameFailed):
            self.failures[event.key] = event.message

    def status(self, keys: list[str]) -> FrameStatus:
        return FrameStatus(keys, self.keys, self.rendered, self.failures)

    def _size(self, key: str) -> int:
        with contextlib.suppress(OSError):
            return os.stat(self.cache.path(key)).st_size
        return 0
