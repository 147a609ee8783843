"""Live input: frames from a capture device, a network stream or a file played in real time, each
upscaled x2 by the `realtime` net as it comes, with frames dropped (and counted) when the net
falls behind.

Two threads and one slot between them. The capture thread reads the source (a file or stream
paced by its timestamps, a device as it delivers) and puts each frame in the slot; a frame still
in the slot when the next one arrives was never processed and counts as dropped, so nothing
queues up however slow the net is. The processing thread (the caller of `LiveSession.run`) takes
the newest frame, upscales it and hands both pictures to `on_frame`. At the end
processed + dropped = offered.

Recording writes every captured frame to NAME-source.mkv (x264 at CRF 0: lossless Y'CbCr 4:2:0),
which `sdhd new` opens as a project, and the results to the asked file at the source's rate, each
result held until the next one, so both recordings have the same frame count and timing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import MediaError, SdhdError
from sdhd_studio.media.writer import VideoWriter
from sdhd_studio.ml.runtime import Runtime

Upscale = Callable[[np.ndarray], np.ndarray]  # HxWx3 uint8 RGB -> 2Hx2Wx3 uint8 RGB
# FFmpeg's capture-device input on each OS. On Linux a device is its /dev path; elsewhere
# "device:NAME" with the OS's device name ("device:0" for avfoundation, "device:video=NAME"
# for dshow).
DEVICE_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}
DEFAULT_DEVICE_FPS = Fraction(30)
_TIMEOUT = 10.0  # seconds to wait for a source to open or to send its next packet


@dataclass(frozen=True)
class LiveSource:
    """Where frames come from and how: `fmt` is FFmpeg's input format (None: from the name),
    `paced` whether frames are released at their timestamps (everything but a device)."""

    url: str
    fmt: str | None
    paced: bool


def live_source(text: str) -> LiveSource:
    """The source a user named: a device, a stream URL (scheme://...) or a file."""
    if text.startswith("device:") or (text.startswith("/dev/") and sys.platform == "linux"):
        fmt = DEVICE_FORMATS.get(sys.platform)
        if fmt is None:
            raise MediaError(f"capture devices are not supported on {sys.platform}")
        return LiveSource(text.removeprefix("device:"), fmt, paced=False)
    if "://" in text:
        return LiveSource(text, None, paced=True)
    if not Path(text).is_file():
        raise MediaError(f"no such file, device or stream URL: {text}")
    return LiveSource(text, None, paced=True)


def recording_paths(result: str | Path) -> tuple[Path, Path]:
    """(source recording, result recording) for a result path: OUT-source.mkv beside OUT."""
    result = Path(result)
    return result.with_name(f"{result.stem}-source.mkv"), result


@dataclass
class LiveStats:
    offered: int = 0  # frames the source delivered
    processed: int = 0  # frames upscaled
    dropped: int = 0  # frames replaced by a newer one before the net took them
    seconds: float = 0.0  # since the first frame

    @property
    def fps(self) -> float:
        """Frames upscaled a second: the rate the viewer sees."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"offered": self.offered, "processed": self.processed, "dropped": self.dropped,
                "seconds": round(self.seconds, 3), "fps": round(self.fps, 2)}


@dataclass(frozen=True)
class LiveFrame:
    index: int  # in the source's frames
    source: np.ndarray
    result: np.ndarray
    stats: LiveStats  # a copy, as of this frame


def realtime_upscale(runtime: Runtime | None = None) -> Upscale:
    """The `realtime` net as an x2 function, loaded once for the process (ml.registry)."""
    from sdhd_studio.ml import registry

    spec = registry.require_usable("upscale", "realtime")
    upscaler, lock = registry.instance(spec, runtime or Runtime())
    never = CancelToken()

    def upscale(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        with lock:
            out = upscaler.upscale(image, (2 * width, 2 * height), {}, never)
        return np.asarray(out.clip(0, 255) if out.dtype != np.uint8 else out, np.uint8)

    return upscale


class LiveSession:
    """One run over `source` (see `live_source`); `record`: the result's file, or None."""

    def __init__(
        self, source: str, upscale: Upscale, *, record: str | Path | None = None,
        on_frame: Callable[[LiveFrame], None] | None = None,
    ) -> None:
        self.source = live_source(source)
        self.record = recording_paths(record) if record is not None else None
        self._upscale = upscale
        self._on_frame = on_frame
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._pending: tuple[int, np.ndarray] | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._fps = DEFAULT_DEVICE_FPS
        self._started: float | None = None
        self._source_writer: VideoWriter | None = None
        self.stats = LiveStats()

    def stop(self) -> None:
        """Ask `run` to end after the frame in hand (from any thread)."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def run(self, seconds: float | None = None, cancel: CancelToken | None = None) -> LiveStats:
        """Capture and upscale until the source ends, `seconds` pass, `stop()` or `cancel`;
        the stats. Stopping keeps the recordings."""
        capture = threading.Thread(target=self._capture, name="sdhd-live-capture", daemon=True)
        capture.start()
        result_writer: VideoWriter | None = None
        written, last = 0, None
        try:
            while (item := self._next(seconds, cancel)) is not None:
                index, image = item
                result = self._upscale(image)
                if self.record is not None:
                    if result_writer is None:
                        height, width = result.shape[:2]
                        result_writer = VideoWriter(str(self.record[1]), width, height,
                                                    self._fps, preset="veryfast")
                    # Hold the previous result over the frames dropped since, to keep time.
                    written = _hold(result_writer, last if last is not None else result,
                                    written, index)
                    result_writer.write(result)
                    written += 1
                last = result
                with self._changed:
                    self.stats.processed += 1
                    snapshot = LiveStats(**vars(self.stats))
                if self._on_frame is not None:
                    self._on_frame(LiveFrame(index, image, result, snapshot))
        except BaseException:
            self.stop()
            capture.join()
            for writer in (result_writer, self._source_writer):
                if writer is not None:
                    writer.abort()
            raise
        self.stop()
        capture.join()
        if self._started is not None:
            self.stats.seconds = time.monotonic() - self._started
        with self._changed:  # a frame left in the slot was never processed
            if self._pending is not None:
                self.stats.dropped += 1
                self._pending = None
        if self._error is not None or last is None:
            for writer in (result_writer, self._source_writer):
                if writer is not None:
                    writer.abort()
            if self._error is not None:
                raise self._error
            raise MediaError(f"no frames came from {self.source.url}")
        if result_writer is not None:
            _hold(result_writer, last, written, self.stats.offered)
            result_writer.close()
        if self._source_writer is not None:
            self._source_writer.close()
        return self.stats

    def _next(
        self, seconds: float | None, cancel: CancelToken | None,
    ) -> tuple[int, np.ndarray] | None:
        """The newest captured frame, waiting for one; None once the run is over."""
        with self._changed:
            while True:
                left = None
                if seconds is not None and self._started is not None:
                    left = self._started + seconds - time.monotonic()
                if (cancel is not None and cancel.cancelled) or (left is not None and left <= 0):
                    self._stop.set()
                if self._pending is not None and not self._stop.is_set():
                    item, self._pending = self._pending, None
                    return item
                if self._ended or self._stop.is_set():
                    return None
                self._changed.wait(0.1 if left is None else min(left, 0.1))

    def _capture(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # noqa: BLE001 - raised again by run on its thread
            self._error = exc if isinstance(exc, SdhdError) else MediaError(
                f"{self.source.url}: {exc}")
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _read(self) -> None:
        try:
            # A stream or device that goes quiet ends the session instead of hanging it.
            container = av.open(self.source.url, format=self.source.fmt, timeout=_TIMEOUT)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"could not open {self.source.url}: {exc}") from exc
        with container:
            if not container.streams.video:
                raise MediaError(f"{self.source.url} has no video")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self._fps = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_DEVICE_FPS)
            first_time: float | None = None
            for index, frame in enumerate(container.decode(stream)):
                if self._stop.is_set():
                    return
                now = time.monotonic()
                if self._started is None:
                    self._started = now
                if self.source.paced and frame.time is not None:
                    first_time = frame.time if first_time is None else first_time
                    wait = self._started + (frame.time - first_time) - now
                    if wait > 0 and self._stop.wait(wait):
                        return
                image = frame.to_ndarray(format="rgb24")
                # Encoders take even sizes only: an odd last row or column is left out.
                image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
                self._record_source(image)
                with self._changed:
                    self.stats.offered += 1
                    if self._pending is not None:
                        self.stats.dropped += 1
                    self._pending = (index, image)
                    self.stats.seconds = time.monotonic() - self._started
                    self._changed.notify_all()

    def _record_source(self, image: np.ndarray) -> None:
        if self.record is None:
            return
        if self._source_writer is None:
            height, width = image.shape[:2]
            self._source_writer = VideoWriter(str(self.record[0]), width, height, self._fps,
                                              crf=0, preset="ultrafast")
        self._source_writer.write(image)


def _hold(writer: VideoWriter, picture: np.ndarray, written: int, until: int) -> int:
    """Write `picture` until `until` frames are written; the new count."""
    for _ in range(until - written):
        writer.write(picture)
    return max(written, until)
