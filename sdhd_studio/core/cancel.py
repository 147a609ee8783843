"""Cooperative cancellation shared by the scheduler, frame jobs and backends.

A backend that works in steps (diffusion) also reports them through the token it was given:
the scheduler hands each job a child token whose steps become `FrameStep` events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sdhd_studio.core.errors import Cancelled

StepListener = Callable[[int, int], None]  # (steps done, steps in all)


class CancelToken:
    def __init__(
        self, parent: CancelToken | None = None, on_step: StepListener | None = None
    ) -> None:
        self._event = parent._event if parent is not None else threading.Event()
        self._on_step = on_step

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if cancellation was requested; backends call it between steps."""
        if self._event.is_set():
            raise Cancelled("cancelled")

    def child(self, on_step: StepListener) -> CancelToken:
        """A token cancelled with this one, whose `step` calls go to `on_step`."""
        return CancelToken(self, on_step)

    def step(self, done: int, total: int) -> None:
        """Report progress within one job, then stop here if cancelled."""
        if self._on_step is not None:
            self._on_step(done, total)
        self.check()
