"""Runs frame jobs on an executor: nearest-to-focus first, dependencies first, few in flight.

The scheduler owns ordering, cancellation and reporting; it knows nothing about how a frame is
made. Only `workers` jobs are submitted at a time, so a cancel or a new focus takes effect
within one frame. Events are emitted from the thread that called `run`, never from workers.
The focus may be a function, read before each submission: the GUI passes its playhead.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, SdhdError
from sdhd_studio.render.events import (
    Event,
    FrameDone,
    FrameFailed,
    FrameQueued,
    FrameStarted,
    FrameStep,
    Progress,
)
from sdhd_studio.render.plan import FrameJob

log = logging.getLogger(__name__)

RunJob = Callable[[FrameJob, CancelToken], object]


@dataclass(frozen=True)
class RenderSummary:
    rendered: int
    failed: int
    cancelled: bool
    seconds: float
    errors: dict[int, str]
    cached: int = 0  # frames asked for that were already in the cache


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _Queue:
    """Jobs ready to run, nearest to the focus frame first; re-sorts when the focus moves."""

    def __init__(self) -> None:
        self.jobs: dict[int, FrameJob] = {}
        self._heap: list[tuple[int, int]] = []
        self._focus = 0

    def push(self, job: FrameJob) -> None:
        self.jobs[job.index] = job
        heapq.heappush(self._heap, (abs(job.index - self._focus), job.index))

    def pop(self, focus: int) -> FrameJob:
        if focus != self._focus:
            self._focus = focus
            self._heap = [(abs(i - focus), i) for i in self.jobs]
            heapq.heapify(self._heap)
        while True:
            _, index = heapq.heappop(self._heap)
            if index in self.jobs:
                return self.jobs.pop(index)

    def __len__(self) -> int:
        return len(self.jobs)


class Scheduler:
    def __init__(
        self, run_job: RunJob, executor: Executor | None = None, workers: int | None = None
    ) -> None:
        self._run_job = run_job
        self._executor = executor
        self.workers = workers or default_workers()

    def run(
        self,
        jobs: Sequence[FrameJob],
        *,
        focus: int | Callable[[], int] = 0,
        on_event: Callable[[Event], None] = lambda e: None,
        cancel: CancelToken | None = None,
    ) -> RenderSummary:
        """Run `jobs`, nearest to `focus` first; a job whose `deps` name keys of other jobs here
        waits for them."""
        cancel = cancel or CancelToken()
        focus_now = focus if callable(focus) else lambda: focus
        started = time.monotonic()
        unfinished = {job.key for job in jobs}  # keys this run still has to make
        ready, blocked = _Queue(), {}
        dependents: dict[str, list[int]] = defaultdict(list)  # dep key -> blocked job indices
        for job in jobs:
            on_event(FrameQueued(job.index, job.key))
            if job.deps & unfinished:
                blocked[job.index] = job
                for dep in job.deps & unfinished:
                    dependents[dep].append(job.index)
            else:
                ready.push(job)
        total, rendered = len(jobs), 0
        errors: dict[int, str] = {}
        inflight: dict[Future[object], tuple[FrameJob, float]] = {}
        steps: queue.SimpleQueue[FrameStep] = queue.SimpleQueue()  # from workers, emitted here

        def finish(job: FrameJob, error: str | None, t0: float) -> None:
            nonlocal rendered
            if error is None:
                rendered += 1
                unfinished.discard(job.key)
                on_event(FrameDone(job.index, job.key, time.monotonic() - t0))
            else:
                errors[job.index] = error
                on_event(FrameFailed(job.index, job.key, error))
            elapsed = time.monotonic() - started
            done = rendered + len(errors)
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else None
            on_event(Progress(done, total, len(errors), rate, eta))
            for index in dependents.pop(job.key, ()):
                waiting = blocked.get(index)
                if waiting is None:
                    continue
                if error is not None:
                    del blocked[index]
                    finish(waiting, f"needs frame {job.index}, which failed", t0)
                elif not waiting.deps & unfinished:
                    ready.push(blocked.pop(index))

        executor = self._executor or ThreadPoolExecutor(self.workers, "sdhd-render")
        try:
            while (ready and not cancel.cancelled) or inflight:
                while ready and len(inflight) < self.workers and not cancel.cancelled:
                    job = ready.pop(focus_now())
                    on_event(FrameStarted(job.index, job.key))
                    token = cancel.child(
                        lambda n, of, job=job: steps.put(FrameStep(job.index, job.key, n, of))
                    )
                    future = executor.submit(self._run_job, job, token)
                    inflight[future] = (job, time.monotonic())
                finished, _ = wait(inflight, timeout=0.1, return_when=FIRST_COMPLETED)
                while not steps.empty():
                    on_event(steps.get())
                for future in finished:
                    job, t0 = inflight.pop(future)
                    error = _error_of(future)
                    if error is _CANCELLED:
                        ready.push(job)  # not made: still to do
                    else:
                        finish(job, error, t0)
        finally:
            if self._executor is None:
                executor.shutdown(wait=True, cancel_futures=True)
        return RenderSummary(
            rendered, len(errors), bool(ready or blocked), time.monotonic() - started, errors
        )


_CANCELLED = "\x00cancelled"


def _error_of(future: Future[object]) -> str | None:
    """None on success, `_CANCELLED`, or the message a user sees for a failed frame."""
    exc = future.exception()
    if exc is None:
        return None
    if isinstance(exc, Cancelled):
        return _CANCELLED
    if isinstance(exc, SdhdError):
        return str(exc)
    log.error("frame job crashed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"
