"""Rendering in the editor: the engine's scheduler on a WorkerPool, its events fed to the GUI.

The scheduler loop runs on one pool thread and submits frame jobs to the same pool, so the GUI
thread never waits on a render. Events are queued and applied in batches by a timer (one
timeline repaint per batch, however many frames finish). An edit that changes the recipe of a
requested frame restarts the render: frames in flight finish or stop within one frame, their
results are stored under their own (now outdated) keys and never shown, and the new run
queues exactly the frames the edit made dirty.

Backends that work in steps (diffusion) report each one; the pool keeps the latest step of
every frame in flight and tells the window once per batch, not once per step.

With a farm address set, frame jobs go to a Ray cluster's workers instead of the pool's threads.
The farm is joined on the render thread on first use (that takes seconds) and kept, with the
models its workers loaded, until the address or the device changes or the pool shuts down.
"""

from __future__ import annotations

import collections
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.gui.document import Document
from sdhd_studio.gui.workers import PoolExecutor, WorkerPool
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.events import Event, FrameDone, FrameFailed, FrameStep, Progress
from sdhd_studio.render.farm import FarmExecutor
from sdhd_studio.render.scheduler import RenderSummary, default_workers

log = logging.getLogger(__name__)

# Often enough for live cells and a moving ETA, rarely enough that repaints cost nothing.
DRAIN_MS = 100


@dataclass(frozen=True)
class _RunEnded:
    summary: RenderSummary | None
    error: str | None


class RenderPool(QObject):
    runningChanged = Signal(bool)
    progress = Signal(object)  # the latest render.events.Progress
    frameDone = Signal(int)
    frameFailed = Signal(int, str)
    finished = Signal(object)  # the RenderSummary of a run that was not restarted
    crashed = Signal(str)  # the render itself failed (not a frame): the reason
    # {frame index: (step, steps)} for the frames in flight whose backend reports steps
    stepsChanged = Signal(object)

    def __init__(
        self,
        document: Document,
        workers: int | None = None,
        parent: QObject | None = None,
        runtime: Runtime | None = None,
        farm: str = "",
    ) -> None:
        super().__init__(parent)
        self._document = document
        self._workers = workers or default_workers()
        self._runtime = runtime or Runtime()
        self._farm_address = farm
        self._farm: tuple[tuple[str, str], FarmExecutor] | None = None  # (address, device)
        self._release_models = False  # the runtime changed during a render: unload after it
        self._steps: dict[int, tuple[int, int]] = {}
        # One thread runs the scheduler loop, the others the frame jobs it hands out.
        self._pool = WorkerPool(self._workers + 1, self)
        self._events: collections.deque[Event | _RunEnded] = collections.deque()
        self._drain = QTimer(self)
        self._drain.setInterval(DRAIN_MS)
        self._drain.timeout.connect(self._apply_events)
        self._token: CancelToken | None = None
        self._frames: list[int] | None = None  # what the user asked to render; None: all
        self._keys: list[str] = []  # the recipe keys the running render works from
        self._restart = False
        self._focus = 0
        document.projectChanged.connect(self._project_changed)

    @property
    def workers(self) -> int:
        return self._workers

    def set_workers(self, workers: int) -> None:
        """Takes effect with the next render."""
        self._workers = max(1, workers)

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def set_runtime(self, runtime: Runtime) -> None:
        """Takes effect with the next render. The models loaded for the old runtime are
        unloaded now, or once the running render (which still uses them) ends."""
        if runtime == self._runtime:
            return
        self._runtime = runtime
        if self.is_running():
            self._release_models = True
        else:
            registry.release_instances()

    def set_farm(self, address: str) -> None:
        """Render on the Ray cluster at `address` ("": this computer) from the next render."""
        self._farm_address = address

    def is_running(self) -> bool:
        return self._token is not None

    def set_focus(self, index: int) -> None:
        """Render the frames nearest `index` next (the playhead)."""
        self._focus = index

    def render(self, frames: range | list[int] | None = None) -> None:
        """Render the frames of `frames` (default: all) that are not done; a render already
        running is redirected to the new request."""
        self._frames = None if frames is None else sorted(set(frames))
        if self.is_running():
            self._stop(restart=True)
        else:
            self._start()

    def cancel(self) -> None:
        """Stop after the frames in flight (each backend stops within one step)."""
        if self.is_running():
            self._stop(restart=False)

    def shutdown(self) -> None:
        """Cancel and wait for every worker (closing the window or the project)."""
        self.cancel()
        self._pool.waitForDone()
        self._apply_events()
        self._leave_farm()

    def _start(self) -> None:
        session = self._document.session
        plan = session.plan()  # built here, so the worker finds it ready
        self._keys = plan.keys
        self._restart = False
        token = self._token = CancelToken()
        frames = self._frames
        workers = self._workers
        runtime = self._runtime
        farm = (self._farm_address, runtime.device) if self._farm_address else None
        self._pool.setMaxThreadCount(workers + 1)

        def run() -> None:
            try:
                executor = PoolExecutor(self._pool) if farm is None else self._join_farm(farm)
                with session.exclusive(wait=False):  # a render or export in another process
                    summary = session.render(
                        frames,
                        workers=workers if farm is None else None,  # a farm keeps all busy
                        executor=executor,
                        focus=lambda: self._focus,
                        on_event=self._events.append,
                        cancel=token,
                        runtime=runtime,
                    )
            except Exception as exc:  # noqa: BLE001 - reported to the user, never lost
                log.exception("render failed")
                self._events.append(_RunEnded(None, str(exc)))
            else:
                self._events.append(_RunEnded(summary, None))

        self._pool.run(run)
        self._drain.start()
        self.runningChanged.emit(True)

    def _join_farm(self, farm: tuple[str, str]) -> Executor:
        """The farm at this address for this device; runs on the render thread."""
        if self._farm is not None and self._farm[0] != farm:
            self._leave_farm()
        if self._farm is None:
            from sdhd_studio.render.ray_executor import RayExecutor

            address, device = farm
            self._farm = (farm, RayExecutor(address, device=device))
        return self._farm[1]

    def _leave_farm(self) -> None:
        if self._farm is not None:
            self._farm[1].shutdown()
            self._farm = None

    def _stop(self, restart: bool) -> None:
        assert self._token is not None
        self._restart = restart
        self._token.cancel()

    def _project_changed(self) -> None:
        if not self.is_running():
            return
        keys = self._document.session.plan().keys
        wanted = range(len(keys)) if self._frames is None else self._frames
        if any(keys[i] != self._keys[i] for i in wanted if i < len(self._keys)):
            self._stop(restart=True)

    def _apply_events(self) -> None:
        batch: list[Event] = []
        ended: _RunEnded | None = None
        while self._events:
            item = self._events.popleft()
            if isinstance(item, _RunEnded):
                ended = item
            else:
                batch.append(item)
        # Steps change no frame state: a batch of only steps repaints nothing.
        self._document.apply_events([e for e in batch if not isinstance(e, FrameStep)])
        last_progress = None
        steps_before = dict(self._steps)
        for event in batch:
            if isinstance(event, FrameStep):
                self._steps[event.index] = (event.step, event.steps)
            elif isinstance(event, FrameDone):
                self._steps.pop(event.index, None)
                self.frameDone.emit(event.index)
            elif isinstance(event, FrameFailed):
                self._steps.pop(event.index, None)
                self.frameFailed.emit(event.index, event.message)
            elif isinstance(event, Progress):
                last_progress = event
        if ended is not None:
            self._steps.clear()  # a cancelled frame reports no end of its own
        if self._steps != steps_before:
            self.stepsChanged.emit(dict(self._steps))
        if last_progress is not None:
            self.progress.emit(last_progress)
        if ended is not None:
            self._run_ended(ended)

    def _run_ended(self, ended: _RunEnded) -> None:
        self._token = None
        if self._release_models:
            self._release_models = False
            registry.release_instances()
        self._document.settle_states()  # frames left queued by a cancel are dirty again
        if ended.error is not None:
            self._drain.stop()
            self.runningChanged.emit(False)
            self.crashed.emit(ended.error)
        elif self._restart:
            self._start()
        else:
            self._drain.stop()
            self.runningChanged.emit(False)
            self.finished.emit(ended.summary)
