"""Writing RGB frames to an MP4 with ffmpeg, optionally with the source's audio kept in sync.

Frames are piped to ffmpeg as raw RGB into a video-only temp file. `close()` then knows the exact
duration and muxes that video (copied) with the audio shifted and trimmed to it, into a second
temp file that is renamed to the final name only when everything succeeded.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import IO, NoReturn

import av
import ffmpeg
import numpy as np

from sdhd_studio.core.errors import ExportError
from sdhd_studio.media.encoders import device_args, encoder_for, output_options
from sdhd_studio.media.ffmpeg import ffmpeg_exe, log_message

# Audio codecs an MP4 can carry as they are.
_MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"}
# Audio may start this much before the video and still be copied without trimming.
_START_SLACK = 0.001
_STDERR_LINES = 30


@dataclass(frozen=True)
class AudioSource:
    """Audio to carry over: output time 0 is source container time `video_start`."""

    path: str
    stream_index: int  # stream index in the source container
    video_start: float  # the source video's start_time, seconds


class VideoWriter:
    """Encodes frames (HxWx3 uint8 RGB) to `path`; use as a context manager or call close().

    `codec` is an encoder name from `media.encoders` ("h264", "h265-nvenc", ...).
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
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"output size must be positive and even, got {width}x{height}")
        self.path = os.path.abspath(path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self.frames_written = 0
        self._encoder = encoder_for(codec)
        self._audio = audio
        folder, name = os.path.split(self.path)
        stem = os.path.splitext(name)[0]
        self._video_tmp = os.path.join(folder, f".{stem}.partial.video.mp4")
        self._final_tmp = os.path.join(folder, f".{stem}.partial.mp4")
        _check_writable(folder, self._video_tmp)

        args = (
            ffmpeg.input(
                "pipe:",
                format="rawvideo",
                pix_fmt="rgb24",
                s=f"{width}x{height}",
                framerate=str(self.fps),
            )
            .output(self._video_tmp, **output_options(self._encoder, crf, preset))
            .global_args(
                "-hide_banner", "-loglevel", "error", "-nostats", *device_args(self._encoder)
            )
            .overwrite_output()
            .compile(cmd=ffmpeg_exe())
        )
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            _remove(self._video_tmp)
            raise ExportError(f"could not start ffmpeg: {exc}") from exc
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        assert self._proc.stderr is not None
        # ffmpeg blocks once the stderr pipe is full, so it is read continuously.
        self._drain = threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr))
        self._drain.daemon = True
        self._drain.start()
        self._open = True

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one frame; its shape must be (height, width, 3) and dtype uint8."""
        if not self._open:
            raise ExportError(f"{self.path} is already closed")
        if frame_rgb.shape != (self.height, self.width, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"frame must be {self.height}x{self.width}x3 uint8, "
                f"got {'x'.join(map(str, frame_rgb.shape))} {frame_rgb.dtype}"
            )
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame_rgb).data)
        except OSError as exc:  # BrokenPipe when ffmpeg died, ENOSPC, ...
            self._fail(f"ffmpeg stopped while writing {self.path}", exc)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file; raises ExportError (and leaves no output) when anything failed."""
        if not self._open:
            return
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except OSError as exc:
            self._fail(f"ffmpeg stopped while writing {self.path}", exc)
        if self._proc.wait() != 0:
            self._fail(f"ffmpeg could not encode {self.path}")
        self._drain.join()
        if self.frames_written == 0:
            self._fail(f"no frames were written to {self.path}")
        try:
            self._mux()
            os.replace(self._final_tmp, self.path)
        except OSError as exc:
            self._fail(f"could not write {self.path}", exc)
        except BaseException:
            self.abort()
            raise
        _remove(self._video_tmp)
        self._open = False

    def abort(self) -> None:
        """Stop ffmpeg and remove every temp file; the final file is never created."""
        self._open = False
        if self._proc.poll() is None:
            self._proc.kill()
        if self._proc.stdin is not None:
            # A broken pipe has nothing left to flush.
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._proc.wait()
        self._drain.join()
        _remove(self._video_tmp)
        _remove(self._final_tmp)

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
        options: dict[str, object] = {"c:v": "copy", "movflags": "+faststart", "f": "mp4"}
        if self._encoder.hevc:
            options["tag:v"] = "hvc1"  # Apple players only accept this tag for HEVC
        if self._audio is None:
            streams = [video]
        else:
            audio, audio_options = _audio_stream(self._audio, duration)
            streams = [video, audio]
            options.update(audio_options)
        args = (
            ffmpeg.output(*streams, self._final_tmp, t=f"{duration:.6f}", **options)
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .compile(cmd=ffmpeg_exe())
        )
        done = subprocess.run(args, capture_output=True, text=True, errors="replace")
        if done.returncode != 0:
            _remove(self._final_tmp)
            self._stderr.extend(done.stderr.splitlines())
            self._fail(f"ffmpeg could not add the audio to {self.path}")


def _audio_stream(audio: AudioSource, duration: float) -> tuple[object, dict[str, object]]:
    """The ffmpeg-python audio stream for `audio` and the output options it needs.

    `itsoffset` moves the source's clock so that `video_start` becomes output time 0 (ffmpeg
    already subtracts the file's start time). Copying keeps the audio as it is when it starts
    at or after that point; otherwise it is cut sample-exactly and re-encoded to AAC.
    """
    try:
        with av.open(audio.path) as container:
            file_start = (container.start_time or 0) / av.time_base
            stream = container.streams[audio.stream_index]
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
    if codec in _MP4_AUDIO and delay >= -_START_SLACK:
        return selected, {"c:a": "copy"}
    shifted = selected.filter("atrim", start=0).filter("asetpts", "PTS-STARTPTS")
    if delay > 0:
        shifted = shifted.filter("adelay", delays=f"{round(delay * sample_rate)}S", all=1)
    trimmed = shifted.filter("atrim", end=f"{duration:.6f}")
    return trimmed, {"c:a": "aac", "b:a": "192k"}


def _check_writable(folder: str, probe_file: str) -> None:
    """Fail early, before ffmpeg starts, when the output folder cannot take files."""
    if not os.path.isdir(folder):
        raise ExportError(f"cannot write the video: the folder {folder} does not exist")
    try:
        with open(probe_file, "wb"):
            pass
    except OSError as exc:
        raise ExportError(
            f"cannot write the video: the folder {folder} is not writable ({exc.strerror})"
        ) from exc


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
