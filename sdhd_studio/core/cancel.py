"""Cooperative cancellation shared by the scheduler, frame jobs and backends."""

from __future__ import annotations

import threading

from sdhd_studio.core.errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if cancellation was requested; backends call it between steps."""
        if self._event.is_set():
            raise Cancelled("cancelled")
