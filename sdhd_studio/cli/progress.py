"""A one-line progress bar on stderr, shown only to a person at a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sdhd_studio.core.timecode import clock
from sdhd_studio.render.events import Event, FrameStep, Progress


class ProgressBar:
    def __init__(self, label: str, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last = 0.0
        self._drawn = False
        self._state: tuple[int, int, float | None, float | None] = (0, 0, None, None)
        self._step = ""  # the slow frame in the works, for backends that report steps

    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.update(event.done, event.total, event.rate, event.eta)
        else:
            self.on_step(event)

    def on_step(self, event: Event) -> None:
        """Show a diffusion frame's steps; one frame can take minutes on a CPU."""
        if isinstance(event, FrameStep):
            done = event.step >= event.steps
            self._step = "" if done else f"  frame {event.index}: step {event.step}/{event.steps}"
            self.update(*self._state)

    def update(self, done: int, total: int, rate: float | None = None, eta: float | None = None):
        self._state = (done, total, rate, eta)
        if not self.enabled or not total:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = width * done // total if total else width
        text = f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if rate:
            text += f"  {rate:.1f} fps"
        if eta is not None and done < total:
            text += f"  ETA {clock(eta)}"
        self.stream.write(text + self._step + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
