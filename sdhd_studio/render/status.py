"""The state of every frame, as the timeline and `sdhd status` show it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from enum import IntEnum

import numpy as np

from sdhd_studio.render.events import Event, FrameDone, FrameFailed, FrameQueued, FrameStarted


class FrameState(IntEnum):
    EMPTY = 0  # never rendered
    DIRTY = 1  # rendered before, but its inputs changed since
    QUEUED = 2
    RENDERING = 3
    DONE = 4
    FAILED = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class FrameStatus:
    """States of all frames of one plan; updated live from render events (thread-safe).

    Building it is a set lookup per frame, so a 100,000-frame project takes well under a second.
    """

    def __init__(
        self,
        keys: list[str],
        cached: set[str],
        rendered: Iterable[int] = (),
        failures: Mapping[str, str] | None = None,
    ) -> None:
        self.keys = keys
        failures = failures or {}
        states = np.full(len(keys), FrameState.EMPTY, dtype=np.uint8)
        ever = np.fromiter((i for i in rendered if 0 <= i < len(keys)), dtype=np.int64)
        states[ever] = FrameState.DIRTY
        done = np.fromiter((k in cached for k in keys), dtype=bool, count=len(keys))
        states[done] = FrameState.DONE
        self.errors: dict[int, str] = {}
        if failures:
            for index, key in enumerate(keys):
                if key in failures and not done[index]:
                    states[index] = FrameState.FAILED
                    self.errors[index] = failures[key]
        self.states = states
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.states)

    def state(self, index: int) -> FrameState:
        return FrameState(int(self.states[index]))

    def apply(self, event: Event) -> None:
        """Follow a render event; events for a recipe that is no longer current are ignored."""
        index = getattr(event, "index", None)
        if index is None or not 0 <= index < len(self.keys) or self.keys[index] != event.key:
            return
        with self._lock:
            if isinstance(event, FrameQueued):
                self.states[index] = FrameState.QUEUED
            elif isinstance(event, FrameStarted):
                self.states[index] = FrameState.RENDERING
            elif isinstance(event, FrameDone):
                self.states[index] = FrameState.DONE
                self.errors.pop(index, None)
            elif isinstance(event, FrameFailed):
                self.states[index] = FrameState.FAILED
                self.errors[index] = event.message

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.states, minlength=len(FrameState))
        return {state.label: int(found[state]) for state in FrameState}

    def frames_in(self, *states: FrameState) -> np.ndarray:
        """Indices of the frames in any of `states`, ascending."""
        return np.flatnonzero(np.isin(self.states, [int(s) for s in states]))

    def todo(self) -> np.ndarray:
        """Frames a render would make: everything not done."""
        return np.flatnonzero(self.states != FrameState.DONE)


def ranges(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Collapse sorted frame indices into inclusive (first, last) ranges."""
    out: list[tuple[int, int]] = []
    for i in indices:
        i = int(i)
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out
