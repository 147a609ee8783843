"""Export: finished frames, in order, streamed into ffmpeg with the source audio.

Frames missing from the cache are rendered first, in a background thread, while frames that
are ready already stream into the encoder; nothing but the final video touches the disk. With
`allow_preview`, missing frames are filled by a quick Lanczos upscale instead (a frame the
source cannot decode repeats the one before it).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, ExportError, FrameDecodeError
from sdhd_studio.core.folder import project_folder_holding
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media import disc
from sdhd_studio.media.container import output_format
from sdhd_studio.media.encoders import encoder_for
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.writer import AudioSource, DirectSource, VideoWriter
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.direct import direct_source
from sdhd_studio.render.events import Event, FrameDone, FrameFailed
from sdhd_studio.render.frame_job import UNUSABLE
from sdhd_studio.render.plan import InterpolationJob, Job, Plan
from sdhd_studio.render.session import Session

log = logging.getLogger(__name__)

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
    direct: bool = False  # made by ffmpeg alone (`render.direct`)


def check_output(out: str | Path, source: str, codec: str) -> None:
    """Refuse, before any work, an output that is the source, lies in a project folder (it
    could replace the project's own files), or whose container cannot carry `codec`."""
    if Path(out).resolve() == Path(source).resolve():
        raise ExportError(f"{out} is the source video; choose another output name")
    inside = project_folder_holding(out)
    if inside is not None:
        raise ExportError(f"{out} is inside the project folder {inside}; write the video "
                          "somewhere else")
    output_format(str(out), encoder_for(codec).codec)


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
    executor: Executor | None = None,
    keep_cheap: bool = True,
    **overrides: Any,
) -> ExportResult:
    """Write the project as a video at `out`, in the container its extension names.

    `overrides` replace output settings for this export only (codec, crf, preset,
    fps_multiplier, audio, audio_track); the project keeps its own. `runtime` is where missing
    frames render; `executor` what renders them (default: threads here; a farm executor: its
    workers).
    `keep_cheap=False`, for a project removed after the export: missing frames that a cheap
    backend makes go straight to the encoder without being stored (`Session.render`).
    """
    started = time.monotonic()
    cancel = cancel or CancelToken()
    project = session.project
    output = dataclasses.replace(project.output, **overrides)
    check_output(out, project.source.path, output.codec)
    if output != project.output:  # the frame rate may change which in-between frames exist
        project = dataclasses.replace(project, output=output)
    info = project.source.info
    width, height = project.frame_size
    plan = session.plan() if project is session.project else Plan(project, session.folder)
    positions = plan.positions
    cached = session.cache.keys()
    missing = [key for key in dict.fromkeys(plan.outputs) if key not in cached]
    feed = _RenderFeed(session, plan, missing, workers, on_event, cancel, runtime, executor,
                       keep_cheap)
    audio = None
    if output.audio and info.audio:
        track = info.audio[output.audio_track - 1]  # the project refuses tracks it lacks
        audio = AudioSource(disc.url(project.source.path), track.index, info.start_time)
    fps = output.fps(info)
    if not keep_cheap and executor is None:
        direct = direct_source(project, plan, (width, height))
        if direct is not None:
            made = _export_direct(out, (width, height), fps, output, audio, direct,
                                  on_progress, cancel)
            if made is not None:
                return ExportResult(Path(out), made, width, height, fps, made, 0,
                                    time.monotonic() - started, direct=True)
    previews = _Previews(project.source.path, info, (width, height))
    image: np.ndarray | None = None  # the frame written last
    try:
        with VideoWriter(
            out, width, height, fps,
            codec=output.codec, crf=output.crf, preset=output.preset, audio=audio,
        ) as writer:
            if missing and not allow_preview:
                feed.start()
            for position, (key, (index, t)) in enumerate(zip(plan.outputs, positions,
                                                             strict=True)):
                cancel.check()
                if key in cached:
                    image = _cached(session, key, index)
                elif allow_preview:
                    # An in-between frame that is not made repeats the frame before it.
                    image = previews.make(index, image) if not t or image is None else image
                else:
                    image = feed.take(key, position, index)
                writer.write(image)
                if on_progress is not None:
                    on_progress(position + 1, len(positions))
    except BaseException:
        cancel.cancel()
        raise
    finally:
        feed.join()
        previews.close()
    count = len(positions)
    return ExportResult(
        Path(out), count, width, height, fps,
        feed.rendered, previews.made, time.monotonic() - started,
    )


def _export_direct(
    out: str | Path,
    size: tuple[int, int],
    fps: Fraction,
    output: OutputSettings,
    audio: AudioSource | None,
    direct: DirectSource,
    on_progress: Callable[[int, int], None] | None,
    cancel: CancelToken,
) -> int | None:
    """The frames ffmpeg made of `direct` on its own (`render.direct`), or None, having written
    nothing, when it did not make exactly the project's frames."""
    total = direct.frames

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(min(done, total), total)

    with VideoWriter(out, *size, fps, codec=output.codec, crf=output.crf,
                     preset=output.preset, audio=audio, direct=direct) as writer:
        made = writer.run_direct(progress, cancel)
        if made != total:
            log.warning("ffmpeg made %d frames of %s where the project counts %d; making them "
                        "one by one instead", made, direct.path, total)
            writer.abort()
            return None
    return made


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
    """Renders what is missing in a background thread and hands the pictures over in order."""

    def __init__(
        self,
        session: Session,
        plan: Plan,
        missing: list[str],
        workers: int | None,
        on_event: Callable[[Event], None] | None,
        cancel: CancelToken,
        runtime: Runtime | None,
        executor: Executor | None,
        keep_cheap: bool,
    ) -> None:
        self._session = session
        # Frames that may not be stored must be handed over however long the writer takes.
        self._keep_cheap = keep_cheap
        self._plan = plan
        self._runtime = runtime
        self._executor = executor
        self._workers = workers
        self._on_event = on_event
        self._cancel = cancel
        # Which job makes each missing output picture, and the first place each one is shown.
        self._maker = {key: key for key in missing}
        for pair in plan.pairs:
            self._maker.update((key, pair.key) for _, key in pair.outputs if key in self._maker)
        self._first: dict[str, int] = {}
        self._last: dict[str, int] = {}  # a picture shown twice is kept until its last place
        for position, key in enumerate(plan.outputs):
            self._first.setdefault(key, position)
            self._last[key] = position
        self._ready = threading.Condition()
        self._outcome: dict[str, str | None] = {}  # job key -> None when done, else the error
        self._images: dict[str, np.ndarray] = {}
        self._next = 0  # the output position the writer takes next
        self._crash: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.rendered = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sdhd-export-render", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def take(self, key: str, position: int, index: int) -> np.ndarray:
        job = self._maker[key]
        with self._ready:
            self._next = position
            self._ready.notify_all()
            while job not in self._outcome:
                if self._crash is not None:
                    raise self._crash
                if not self._thread or not self._thread.is_alive():
                    if self._cancel.cancelled:
                        raise Cancelled("cancelled")
                    raise ExportError(f"frame {index} was not rendered")
                self._ready.wait(0.25)
            error = self._outcome[job]
            image = self._images.get(key)
            if position >= self._last[key]:
                self._images.pop(key, None)
        if error is not None:
            what = f"frame {index}" if job == key else f"the in-between frames after {index}"
            hint = "" if UNUSABLE in error else (
                "; --allow-preview fills frames that are not rendered with a quick upscale")
            raise ExportError(f"{what} failed to render: {error} (export stopped{hint})")
        if image is None:
            image = _cached(self._session, key, index)
        return image

    def _run(self) -> None:
        try:
            summary = self._session.render(
                plan=self._plan,
                workers=self._workers,
                executor=self._executor,
                on_event=self._event,
                cancel=self._cancel,
                on_frame=self._keep,
                runtime=self._runtime,
                keep_cheap=self._keep_cheap,
            )
            self.rendered = summary.rendered
        except BaseException as exc:  # noqa: BLE001 - handed to the exporting thread
            with self._ready:
                self._crash = exc
                self._ready.notify_all()

    def _keep(self, job: Job, result: Any) -> None:
        if isinstance(job, InterpolationJob):
            pictures = {key: image for (_, key), image in zip(job.outputs, result, strict=True)}
        else:
            pictures = {job.key: result}
        patience = _HANDOFF_PATIENCE if self._keep_cheap else float("inf")
        deadline = time.monotonic() + patience
        with self._ready:
            for key, image in pictures.items():
                if key not in self._first:
                    continue  # not shown at this frame rate
                while self._first[key] >= self._next + _HANDOFF_FRAMES:
                    if self._cancel.cancelled or time.monotonic() > deadline:
                        return
                    self._ready.wait(0.25)
                self._images[key] = image

    def _event(self, event: Event) -> None:
        if isinstance(event, FrameDone | FrameFailed):
            with self._ready:
                self._outcome[event.key] = (
                    event.message if isinstance(event, FrameFailed) else None
                )
                self._ready.notify_all()
        if self._on_event is not None:
            self._on_event(event)
