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
from dataclasses import dataclass, field

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
from sdhd_studio.render.plan import FrameJob, Job

log = logging.getLogger(__name__)

RunJob = Callable[[Job, CancelToken], object]


@dataclass(frozen=True)
class RenderSummary:
    rendered: int
    failed: int
    cancelled: bool
    seconds: float
    errors: dict[int, str]  # frame index -> why it failed
    cached: int = 0  # frames asked for that were already in the cache
    failed_keys: dict[str, str] = field(default_factory=dict)  # every failed job, by key
    # In-between frames that failed, by the frame they follow.
    interpolation_errors: dict[int, str] = field(default_factory=dict)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _Queue:
    """Jobs ready to run, nearest to the focus frame first; re-sorts when the focus moves.

    Jobs are told apart by key: a frame and the in-between frames that follow it share an
    index (the in-betweens sort just after their frame)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._heap: list[tuple[float, str]] = []
        self._focus = 0

    def push(self, job: Job) -> None:
        self.jobs[job.key] = job
        heapq.heappush(self._heap, (self._distance(job), job.key))

    def pop(self, focus: int) -> Job:
        if focus != self._focus:
            self._focus = focus
            self._heap = [(self._distance(job), key) for key, job in self.jobs.items()]
            heapq.heapify(self._heap)
        while True:
            _, key = heapq.heappop(self._heap)
            if key in self.jobs:
                return self.jobs.pop(key)

    def _distance(self, job: Job) -> float:
        position = job.index if isinstance(job, FrameJob) else job.index + 0.5
        return abs(position - self._focus)

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
        jobs: Sequence[Job],
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
        dependents: dict[str, list[str]] = defaultdict(list)  # dep key -> blocked job keys
        for job in jobs:
            on_event(FrameQueued(job.index, job.key))
            if job.deps & unfinished:
                blocked[job.key] = job
                for dep in job.deps & unfinished:
                    dependents[dep].append(job.key)
            else:
                ready.push(job)
        total, rendered = len(jobs), 0
        errors: dict[int, str] = {}
        failed_keys: dict[str, str] = {}
        between_errors: dict[int, str] = {}
        inflight: dict[Future[object], tuple[Job, float]] = {}
        steps: queue.SimpleQueue[FrameStep] = queue.SimpleQueue()  # from workers, emitted here

        def finish(job: Job, error: str | None, t0: float) -> None:
            nonlocal rendered
            if error is None:
                rendered += 1
                unfinished.discard(job.key)
                on_event(FrameDone(job.index, job.key, time.monotonic() - t0))
            else:
                failed_keys[job.key] = error
                (errors if isinstance(job, FrameJob) else between_errors)[job.index] = error
                on_event(FrameFailed(job.index, job.key, error))
            elapsed = time.monotonic() - started
            done = rendered + len(failed_keys)
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else None
            on_event(Progress(done, total, len(failed_keys), rate, eta))
            for key in dependents.pop(job.key, ()):
                waiting = blocked.get(key)
                if waiting is None:
                    continue
                if error is not None:
                    del blocked[key]
                    finish(waiting, f"needs frame {job.index}, which failed", t0)
                elif not waiting.deps & unfinished:
                    ready.push(blocked.pop(key))

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
            rendered, len(failed_keys), bool(ready or blocked), time.monotonic() - started,
            errors, failed_keys=failed_keys, interpolation_errors=between_errors,
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
