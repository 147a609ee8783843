"""What a render needs from an executor whose workers make frames on other machines.

Locally, `Session.render` runs a `FrameRenderer` on the executor's threads. A farm executor
brings its own renderer instead: the scheduler hands it the same jobs in the same order, and
the farm's workers make each frame from the job alone and store it in the shared cache under
its key. Ordering, dependencies, cancel, progress and failures stay the scheduler's.
"""

from __future__ import annotations

from abc import abstractmethod
from concurrent.futures import Executor
from typing import Any, Protocol

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.source import Source
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.plan import Job


class Renderer(Protocol):
    def __call__(self, job: Job, cancel: CancelToken) -> Any:
        """Make `job`'s frames and store them in the cache; the picture(s), when asked for."""

    def close(self) -> None:
        """The render is over."""


class FarmExecutor(Executor):
    """An executor whose own workers make frames, wherever they run."""

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many jobs to keep in flight to keep every worker busy."""

    @abstractmethod
    def renderer(
        self, cache: FrameCache, source: Source, runtime: Runtime, pictures: bool
    ) -> Renderer:
        """A renderer for one render into `cache` from `source`; `pictures`: return each
        finished picture to the caller (export encodes them), else only store it."""
