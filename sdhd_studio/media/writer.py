"""Writing RGB frames to a video file with ffmpeg, optionally with the source's audio in sync.

The container follows the output's extension (`media.container.output_format`). Frames are piped
to ffmpeg as raw RGB, converted to BT.709 Y'CbCr and tagged (`media.encoders`), into a video-only
temp file. `close()` then knows the exact duration and muxes that video (copied) with the audio
shifted and trimmed to it, into a second temp file that is renamed to the final name only when
everything succeeded; every failure removes both temps.

One writer at a time per output path: a lock file beside it (`.NAME.lock`) is held from the start
to the rename, so a second export to the same path is refused at once instead of racing it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import IO, NoReturn

import av
import ffmpeg
import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import ExportError
from sdhd_studio.core.lock import FileLock, LockedError
from sdhd_studio.media.container import OutputFormat, output_format
from sdhd_studio.media.encoders import device_args, encoder_for, output_options
from sdhd_studio.media.ffmpeg import ffmpeg_exe, log_message

# Audio may start this much before the video and still be copied without trimming.
_START_SLACK = 0.001
_STDERR_LINES = 30
# Times to take the output lock again when its previous holder removed the file meanwhile.
_LOCK_TRIES = 3


@dataclass(frozen=True)
class AudioSource:
    """Audio to carry over: output time 0 is source container time `video_start`."""

    path: str
    stream_index: int  # stream index in the source container
    video_start: float  # the source video's start_time, seconds


@dataclass(frozen=True)
class DirectSource:
    """Pictures ffmpeg makes itself from a file, when a job needs nothing but its filters: the
    video stream `stream_index` of `path`, through `filters`, `frames` of them."""

    path: str
    stream_index: int  # stream index in the container
    filters: str  # an ffmpeg filter chain ending at the output size
    frames: int
    threads: int = 0  # decoder threads; 0: FFmpeg's choice


class VideoWriter:
    """Encodes frames (HxWx3 uint8 RGB) to `path`; use as a context manager or call close().

    `codec` is an encoder name from `media.encoders` ("h264", "h265-nvenc", ...); the container
    is the one `path`'s extension names. Everything that can be refused (size, codec, container,
    folder, another export writing `path`) is refused here, before any frame is made.
    """

    def __init__(
        self,
        path: str,
        width: int,
        height: int,
        fps: Fraction,
        *,
        codec: str = "h264",
        crf: int = 18,
        preset: str = "medium",
        audio: AudioSource | None = None,
        direct: DirectSource | None = None,
    ) -> None:
        """With `direct`, ffmpeg makes the frames from that file (`run_direct`), not `write`."""
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"output size must be positive and even, got {width}x{height}")
        self.path = os.path.abspath(path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self.frames_written = 0
        self._encoder = encoder_for(codec)
        self._format = output_format(self.path, self._encoder.codec)
        self._audio = audio
        self._direct = direct
        folder, name = os.path.split(self.path)
        self._video_tmp = os.path.join(folder, f".{name}.partial-video")
        self._final_tmp = os.path.join(folder, f".{name}.partial")
        self._lock = _lock_output(self.path, os.path.join(folder, f".{name}.lock"))
        self._open = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        try:
            # Under the lock no other export can be writing these: they are left by a killed one.
            _remove(self._video_tmp)
            _remove(self._final_tmp)
            self._start(width, height, crf, preset)
        except BaseException:
            self._discard()
            raise
        self._open = True

    def _start(self, width: int, height: int, crf: int, preset: str) -> None:
        options = output_options(self._encoder, crf, preset)
        direct = self._direct
        if direct is None:
            video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24",
                                 s=f"{width}x{height}", framerate=str(self.fps))
            progress: tuple[str, ...] = ()
        else:
            # Timestamps from 0 at the project's exact rate, as the piped frames get them.
            threads = {"threads": str(direct.threads)} if direct.threads else {}
            video = ffmpeg.input(direct.path, **threads)[str(direct.stream_index)]
            options.update({"vf": f"{direct.filters},{options['vf']}", "r": str(self.fps),
                            "fps_mode": "cfr", "frames:v": str(direct.frames)})
            progress = ("-progress", "pipe:1")
        args = (
            video.output(self._video_tmp, f=self._format.muxer, **options)
            .global_args("-hide_banner", "-loglevel", "error", "-nostats", *progress,
                         *device_args(self._encoder))
            .overwrite_output()
            .compile(cmd=ffmpeg_exe())
        )
        try:
            # A session of its own: Ctrl+C at a terminal reaches only us, and we stop ffmpeg.
            self._proc = subprocess.Popen(
                args, stdin=subprocess.PIPE if direct is None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if direct is None else subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as exc:
            raise ExportError(f"could not start ffmpeg: {exc}") from exc
        assert self._proc.stderr is not None
        # ffmpeg blocks once the stderr pipe is full, so it is read continuously.
        self._drain = threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr))
        self._drain.daemon = True
        self._drain.start()

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one frame; its shape must be (height, width, 3) and dtype uint8."""
        if not self._open:
            raise ExportError(f"{self.path} is already closed")
        if frame_rgb.shape != (self.height, self.width, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"frame must be {self.height}x{self.width}x3 uint8, "
                f"got {'x'.join(map(str, frame_rgb.shape))} {frame_rgb.dtype}"
            )
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame_rgb).data)
        except OSError as exc:  # BrokenPipe when ffmpeg died, ENOSPC, ...
            self._fail(f"ffmpeg stopped while writing {self.path}", exc)
        self.frames_written += 1

    def run_direct(self, on_progress: Callable[[int], None], cancel: CancelToken) -> int:
        """Let ffmpeg make and encode the direct source's frames; the number it wrote.

        `on_progress(frames)` hears its count as it goes; once `cancel` is cancelled, ffmpeg is
        stopped, nothing is left, and Cancelled raised.
        """
        assert self._direct is not None and self._proc is not None
        assert self._proc.stdout is not None
        counter = threading.Thread(target=self._count, args=(self._proc.stdout, on_progress))
        counter.daemon = True
        counter.start()
        while True:
            try:
                code = self._proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel.cancelled:
                    self.abort()
                    cancel.check()
        counter.join()
        if code != 0:
            self._fail(f"ffmpeg could not encode {self.path}")
        return self.frames_written

    def _count(self, pipe: IO[bytes], on_progress: Callable[[int], None]) -> None:
        """Read ffmpeg's `-progress` lines (key=value) for its frame count."""
        for raw in pipe:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "frame" and value.isdigit():
                self.frames_written = int(value)
                on_progress(self.frames_written)
        pipe.close()

    def close(self) -> None:
        """Finish the file; raises ExportError (and leaves no output) when anything failed."""
        if not self._open:
            return
        assert self._proc is not None
        try:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            except OSError as exc:
                self._fail(f"ffmpeg stopped while writing {self.path}", exc)
            if self._proc.wait() != 0:
                self._fail(f"ffmpeg could not encode {self.path}")
            if self._drain is not None:
                self._drain.join()
            if self.frames_written == 0:
                self._fail(f"no frames were written to {self.path}")
            self._mux()
            os.replace(self._final_tmp, self.path)
        except OSError as exc:
            self._fail(f"could not write {self.path}", exc)
        except BaseException:  # Ctrl+C while waiting for ffmpeg included
            self.abort()
            raise
        self._open = False
        _remove(self._video_tmp)
        _unlock_output(self._lock)

    def abort(self) -> None:
        """Stop ffmpeg and remove every temp file; the final file is never created."""
        self._open = False
        self._discard()

    def _discard(self) -> None:
        """Stop ffmpeg if it runs, remove the temps, let go of the output; safe to repeat."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            if self._proc.stdin is not None:
                # A broken pipe has nothing left to flush.
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
            self._proc.wait()
        if self._drain is not None:
            self._drain.join()
        _remove(self._video_tmp)
        _remove(self._final_tmp)
        _unlock_output(self._lock)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _fail(self, what: str, exc: BaseException | None = None) -> NoReturn:
        self.abort()
        detail = _summary(self._stderr) or (str(exc) if exc else "")
        raise ExportError(f"{what}: {detail}" if detail else what) from exc

    def _mux(self) -> None:
        """Copy the encoded video into the final temp, adding the shifted, trimmed audio."""
        duration = float(self.frames_written / self.fps)
        video = ffmpeg.input(self._video_tmp)["v"]
        options: dict[str, object] = {"c:v": "copy", "f": self._format.muxer}
        if self._format.quicktime:
            options["movflags"] = "+faststart"
            if self._encoder.hevc:
                options["tag:v"] = "hvc1"  # Apple players only accept this tag for HEVC
        if self._audio is None:
            streams = [video]
        else:
            audio, audio_options = _audio_stream(self._audio, duration, self._format)
            streams = [video, audio]
            options.update(audio_options)
        args = (
            ffmpeg.output(*streams, self._final_tmp, t=f"{duration:.6f}", **options)
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .compile(cmd=ffmpeg_exe())
        )
        done = subprocess.run(
            args, capture_output=True, text=True, errors="replace", start_new_session=True
        )
        if done.returncode != 0:
            _remove(self._final_tmp)
            self._stderr.extend(done.stderr.splitlines())
            self._fail(f"ffmpeg could not add the audio to {self.path}")


def _audio_stream(
    audio: AudioSource, duration: float, container: OutputFormat
) -> tuple[object, dict[str, object]]:
    """The ffmpeg-python audio stream for `audio` and the output options it needs.

    `itsoffset` moves the source's clock so that `video_start` becomes output time 0 (ffmpeg
    already subtracts the file's start time). Copying keeps the audio as it is when the
    container carries its codec and it starts at or after that point; otherwise it is cut
    sample-exactly and re-encoded with the container's audio encoder (AAC, or Opus for WebM).
    """
    try:
        with av.open(audio.path) as source:
            file_start = (source.start_time or 0) / av.time_base
            stream = source.streams[audio.stream_index]
            if stream.type != "audio":
                raise ExportError(f"stream {audio.stream_index} of {audio.path} is not audio")
            codec = stream.codec_context.name
            tb = stream.time_base or Fraction(1, stream.sample_rate or 1)
            audio_start = float(stream.start_time * tb) if stream.start_time is not None else 0
            sample_rate = stream.sample_rate or 48000
    except (av.FFmpegError, IndexError) as exc:
        raise ExportError(f"could not read the audio of {audio.path}: {exc}") from exc
    source = ffmpeg.input(audio.path, itsoffset=f"{file_start - audio.video_start:.6f}")
    selected = source[str(audio.stream_index)]
    delay = audio_start - audio.video_start
    carried = container.audio is None or codec in container.audio
    if carried and delay >= -_START_SLACK:
        return selected, {"c:a": "copy"}
    shifted = selected.filter("atrim", start=0).filter("asetpts", "PTS-STARTPTS")
    if delay > 0:
        shifted = shifted.filter("adelay", delays=f"{round(delay * sample_rate)}S", all=1)
    trimmed = shifted.filter("atrim", end=f"{duration:.6f}")
    encoder, bitrate = container.audio_encoder
    return trimmed, {"c:a": encoder, "b:a": bitrate}


def _lock_output(path: str, lock_path: str) -> FileLock:
    """Hold `lock_path` for the export writing `path`; refuses at once when another holds it.

    Creating the lock file is also the check, before ffmpeg starts, that the folder takes
    files. The last holder removes the lock file while still holding it (POSIX), so a lock taken
    on a file that was removed meanwhile is noticed (the path names another file, or none) and
    taken again on the file there now.
    """
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise ExportError(f"cannot write the video: the folder {folder} does not exist")
    busy = f"{path} is being written by another export; try again when it has finished"
    for _ in range(_LOCK_TRIES):
        try:
            with open(lock_path, "ab"):
                pass
            before = os.stat(lock_path)
        except FileNotFoundError:
            continue  # its last holder removed it just now
        except OSError as exc:
            raise ExportError(
                f"cannot write the video: the folder {folder} is not writable ({exc.strerror})"
            ) from exc
        lock = FileLock(lock_path, path)
        try:
            lock.acquire(wait=False)
        except LockedError:
            raise ExportError(busy) from None
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(before, os.stat(lock_path)):
                return lock
        lock.release()
    raise ExportError(busy)


def _unlock_output(lock: FileLock) -> None:
    if not lock.held:
        return
    if os.name == "nt":
        # Windows cannot remove an open file: let go first; the removal then fails, harmlessly,
        # while another export has the file open.
        lock.release()
        with contextlib.suppress(OSError):
            os.remove(lock.path)
    else:
        with contextlib.suppress(OSError):
            os.remove(lock.path)
        lock.release()


def _drain(pipe: IO[bytes], lines: collections.deque[str]) -> None:
    for raw in pipe:
        lines.append(raw.decode("utf-8", "replace").rstrip())
    pipe.close()


def _summary(lines: collections.deque[str]) -> str:
    """ffmpeg's first error (usually the cause) and its last line (how it ended)."""
    kept = [log_message(line) for line in lines]
    kept = [line for line in kept if line]
    if not kept:
        return ""
    return kept[0] if len(kept) == 1 else f"{kept[0]}; {kept[-1]}"


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
