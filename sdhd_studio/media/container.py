"""Containers: opening a media file with PyAV (its failures turned into messages a user can act
on), and the containers an export writes, chosen by the output's extension."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

from sdhd_studio.core.errors import ExportError, MediaError
from sdhd_studio.media import disc


def open_video(path: str) -> tuple[InputContainer, VideoStream]:
    """Open `path` (a file, or a DVD title: see `media.disc`) and return it with its first
    video stream; the caller closes the container."""
    if not os.path.exists(path):
        raise MediaError(f"{path} does not exist")
    try:
        container = av.open(disc.url(path), mode="r")
    except av.FFmpegError as exc:
        if _lacks_moov(path):
            raise MediaError(
                f"{path} was cut off before it was finished: an MP4/MOV file keeps its index "
                "(the 'moov' box) at the end, and this one has none (a recording that stopped "
                "mid-way?)"
            ) from exc
        raise MediaError(f"{path} is not a video file ffmpeg can read ({exc.strerror})") from exc
    videos = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
    if not videos:
        container.close()
        raise MediaError(f"{path} has no video stream")
    return container, videos[0]


# Decoders whose frame threads get pictures wrong: FFmpeg's MPEG-4 Part 2 decoder loses
# interlaced B-pictures' field timing between threads, so their pixels depend on the thread
# count (0.5-1 dB worse than on one thread). It is fast enough on one.
_NO_FRAME_THREADS = frozenset({"mpeg4"})


def frame_threads_ok(codec: str) -> bool:
    """Whether FFmpeg's decoder of `codec` makes the same pictures on frame threads."""
    return codec not in _NO_FRAME_THREADS


def use_threads(stream: VideoStream) -> None:
    """Decode `stream` on several threads, as far as its decoder does that right."""
    stream.thread_type = "AUTO" if frame_threads_ok(stream.codec_context.name) else "SLICE"


def _lacks_moov(path: str) -> bool:
    """Whether `path` is an MP4/MOV file (its first box `ftyp`) whose top-level boxes, walked
    to the end, hold no `moov`: what a recording cut off before its index was written leaves."""
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        end, at, boxes = os.fstat(fh.fileno()).st_size, 0, []
        while at + 8 <= end:
            fh.seek(at)
            size, kind = int.from_bytes(fh.read(4), "big"), fh.read(4)
            if size == 1:
                size = int.from_bytes(fh.read(8), "big")
            boxes.append(kind)
            if kind == b"moov" or size < 8:
                break
            at += size
    return bool(boxes) and boxes[0] == b"ftyp" and b"moov" not in boxes


@dataclass(frozen=True)
class OutputFormat:
    """A container an export can write, chosen by the output's extension."""

    name: str  # what messages say: "MP4"
    muxer: str  # ffmpeg's format name
    video: frozenset[str] | None  # the video codecs it can carry; None: any
    audio: frozenset[str] | None  # the audio codecs it carries as they are; None: any
    audio_encoder: tuple[str, str]  # (ffmpeg encoder, bitrate) for audio it cannot carry

    @property
    def quicktime(self) -> bool:
        """MP4 and MOV: the family that takes movflags and the hvc1 tag."""
        return self.muxer in ("mp4", "mov")


_AAC = ("aac", "192k")
# PCM in MP4 is too new for most players; MOV (tape captures) has always carried it.
_PCM = frozenset(f"pcm_{kind}" for kind in (
    "s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le", "f32be", "u8",
))  # fmt: skip
_QUICKTIME_AUDIO = frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "alac"})
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    ".mp4": OutputFormat("MP4", "mp4", frozenset({"h264", "hevc", "vp9", "av1"}),
                         _QUICKTIME_AUDIO | {"opus", "flac"}, _AAC),
    ".mov": OutputFormat("MOV", "mov", frozenset({"h264", "hevc"}), _QUICKTIME_AUDIO | _PCM,
                         _AAC),
    ".mkv": OutputFormat("Matroska", "matroska", None, None, _AAC),
    ".webm": OutputFormat("WebM", "webm", frozenset({"vp9", "av1"}),
                          frozenset({"opus", "vorbis"}), ("libopus", "160k")),
}
# How messages name each codec, and the encoder name (--codec) that makes it.
_CODEC_NAMES = {"h264": ("H.264", "h264"), "hevc": ("H.265", "h265"), "vp9": ("VP9", "vp9"),
                "av1": ("AV1", "av1")}


def output_format(path: str, video_codec: str) -> OutputFormat:
    """The container `path`'s extension asks for; ExportError when it cannot hold `video_codec`
    (an ffmpeg codec name: h264, hevc, vp9, av1) or is not one an export writes."""
    extension = os.path.splitext(path)[1].lower()
    found = OUTPUT_FORMATS.get(extension)
    if found is None:
        known = ", ".join(OUTPUT_FORMATS)
        what = f"{extension} files" if extension else "a file without an extension"
        raise ExportError(f"cannot write {what}; name the output {known}")
    if found.video is not None and video_codec not in found.video:
        label = _CODEC_NAMES[video_codec][0] if video_codec in _CODEC_NAMES else video_codec
        fits = " or ".join(name for codec, (_, name) in _CODEC_NAMES.items()
                           if codec in found.video)
        raise ExportError(
            f"{found.name} cannot carry {label} video; choose the codec {fits}, "
            "or another container"
        )
    return found
