"""Export: finished frames, in order, streamed into ffmpeg with the source audio.

Frames missing from the cache are rendered first, in a background thread, while frames that
are ready already stream into the encoder; nothing but the final MP4 touches the disk. With
`allow_preview`, missing frames are filled by a quick Lanczos upscale instead (a frame the
source cannot decode repeats the one before it).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, ExportError, FrameDecodeError
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.writer import AudioSource, VideoWriter
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.events import Event, FrameDone, FrameFailed
from sdhd_studio.render.session import Session

# Rendered frames are handed straight to the encoder rather than re-read from the cache. Workers
# that get this far ahead of the encoder wait (encoding is usually the slower stage), which
# bounds memory; after _HANDOFF_PATIENCE seconds a frame is left to be re-read instead, so a
# stalled writer can never hold the workers.
_HANDOFF_FRAMES = 16
_HANDOFF_PATIENCE = 10.0


@dataclass(frozen=True)
class ExportResult:
    path: Path
    frames: int  # frames in the output video
    width: int
    height: int
    fps: Fraction
    rendered: int  # frames rendered for this export
    previews: int  # frames filled by the fast preview upscale
    seconds: float


def export_video(
    session: Session,
    out: str | Path,
    *,
    allow_preview: bool = False,
    workers: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    runtime: Runtime | None = None,
    **overrides: Any,
) -> ExportResult:
    """Write the project as an MP4 at `out`.

    `overrides` replace output settings for this export only (codec, crf, preset,
    fps_multiplier, audio); the project keeps its own. `runtime` is where missing frames render.
    """
    started = time.monotonic()
    cancel = cancel or CancelToken()
    project = session.project
    if Path(out).resolve() == Path(project.source.path).resolve():
        raise ExportError(f"{out} is the source video; choose another output name")
    output = dataclasses.replace(project.output, **overrides)
    info = project.source.info
    width, height = project.frame_size
    plan = session.plan()
    cached = session.cache.keys()
    missing = {i for i, key in enumerate(plan.keys) if key not in cached}
    feed = _RenderFeed(session, plan.keys, sorted(missing), workers, on_event, cancel, runtime)
    audio = None
    if output.audio and info.audio:
        audio = AudioSource(project.source.path, info.audio[0].index, info.start_time)
    fps = info.fps * output.fps_multiplier
    count = len(plan) * output.fps_multiplier
    previews = _Previews(project.source.path, info, (width, height))
    image: np.ndarray | None = None  # the frame written last
    try:
        with VideoWriter(
            out, width, height, fps,
            codec=output.codec, crf=output.crf, preset=output.preset, audio=audio,
        ) as writer:
            if missing and not allow_preview:
                feed.start()
            for index in range(len(plan)):
                cancel.check()
                if index not in missing:
                    image = _cached(session, plan.keys[index], index)
                elif allow_preview:
                    image = previews.make(index, image)
                else:
                    image = feed.take(index)
                # Frame-rate multiplication by repetition keeps every frame at its source time.
                for _ in range(output.fps_multiplier):
                    writer.write(image)
                if on_progress is not None:
                    on_progress(index + 1, len(plan))
    except BaseException:
        cancel.cancel()
        raise
    finally:
        feed.join()
        previews.close()
    return ExportResult(
        Path(out), count, width, height, fps,
        len(missing) if not allow_preview else 0, previews.made, time.monotonic() - started,
    )


def _cached(session: Session, key: str, index: int) -> np.ndarray:
    try:
        return session.cache.get(key)
    except KeyError:
        raise ExportError(f"frame {index} disappeared from the cache during export") from None


class _Previews:
    """Quick Lanczos stand-ins for frames that are not rendered; opens the source on first use.

    A frame the source cannot decode repeats the frame written before it (black at the very
    start), so the export keeps its length and its sync with the audio.
    """

    def __init__(self, source: str, info: VideoInfo, size: tuple[int, int]) -> None:
        self._source, self._info, self._size = source, info, size
        self._reader: FrameReader | None = None
        self._upscaler: Any = None
        self.made = 0

    def make(self, index: int, previous: np.ndarray | None) -> np.ndarray:
        if self._reader is None:
            self._reader = FrameReader(self._source, self._info)
            self._upscaler = registry.get("upscale", "lanczos").factory(Runtime())
        self.made += 1
        try:
            frame = self._reader.read(index)
        except FrameDecodeError:
            if previous is not None:
                return previous
            return np.zeros((self._size[1], self._size[0], 3), np.uint8)
        return self._upscaler.upscale(frame, self._size, {}, CancelToken())

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class _RenderFeed:
    """Renders the missing frames in a background thread and hands them over in order."""

    def __init__(
        self,
        session: Session,
        keys: list[str],
        frames: list[int],
        workers: int | None,
        on_event: Callable[[Event], None] | None,
        cancel: CancelToken,
        runtime: Runtime | None,
    ) -> None:
        self._session = session
        self._runtime = runtime
        self._keys = keys
        self._frames = frames
        self._workers = workers
        self._on_event = on_event
        self._cancel = cancel
        self._ready = threading.Condition()
        self._outcome: dict[int, str | None] = {}  # index -> None when done, else the error
        self._images: dict[int, np.ndarray] = {}
        self._next = 0  # the frame the writer takes next
        self._crash: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sdhd-export-render", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def take(self, index: int) -> np.ndarray:
        with self._ready:
            self._next = index
            self._ready.notify_all()
            while index not in self._outcome:
                if self._crash is not None:
                    raise self._crash
                if not self._thread or not self._thread.is_alive():
                    if self._cancel.cancelled:
                        raise Cancelled("cancelled")
                    raise ExportError(f"frame {index} was not rendered")
                self._ready.wait(0.25)
            error = self._outcome.pop(index)
            image = self._images.pop(index, None)
        if error is not None:
            raise ExportError(
                f"frame {index} failed to render: {error} (export stopped; --allow-preview "
                "fills frames that are not rendered with a quick upscale)"
            )
        if image is None:
            image = _cached(self._session, self._keys[index], index)
        return image

    def _run(self) -> None:
        try:
            self._session.render(
                self._frames,
                workers=self._workers,
                on_event=self._event,
                cancel=self._cancel,
                on_frame=self._keep,
                runtime=self._runtime,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the exporting thread
            with self._ready:
                self._crash = exc
                self._ready.notify_all()

    def _keep(self, index: int, image: np.ndarray) -> None:
        deadline = time.monotonic() + _HANDOFF_PATIENCE
        with self._ready:
            while index >= self._next + _HANDOFF_FRAMES:
                if self._cancel.cancelled or time.monotonic() > deadline:
                    return
                self._ready.wait(0.25)
            self._images[index] = image

    def _event(self, event: Event) -> None:
        if isinstance(event, FrameDone | FrameFailed):
            with self._ready:
                self._outcome[event.index] = (
                    event.message if isinstance(event, FrameFailed) else None
                )
                self._ready.notify_all()
        if self._on_event is not None:
            self._on_event(event)
