"""Thread pools for the editor's background work, and an executor that runs the engine on them.

Every pool the editor makes is a `WorkerPool`, so closing the window (and each test) can check
that none is still running.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool

_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


class WorkerPool(QThreadPool):
    def __init__(self, threads: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setMaxThreadCount(max(1, threads))
        _POOLS.add(self)

    def run(self, fn: Callable[[], object]) -> None:
        """Run `fn` on a pool thread; it must catch its own errors (none may reach Qt)."""
        self.start(fn)


def busy_pools() -> list[WorkerPool]:
    """Pools that still have work running or queued."""
    return [
        pool for pool in list(_POOLS) if shiboken6.isValid(pool) and pool.activeThreadCount() > 0
    ]


class PoolExecutor(Executor):
    """A concurrent.futures Executor over a WorkerPool: the engine's scheduler submits frame
    jobs to it exactly as it would to a ThreadPoolExecutor, and they run on Qt's threads."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - delivered through the future
                future.set_exception(exc)
            else:
                future.set_result(result)

        self._pool.run(work)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._pool.clear()
        if wait:
            self._pool.waitForDone()
