"""Opening a media file with PyAV, turning its failures into messages a user can act on."""

from __future__ import annotations

import os

import av
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

from sdhd_studio.core.errors import MediaError
from sdhd_studio.media import disc


def open_video(path: str) -> tuple[InputContainer, VideoStream]:
    """Open `path` (a file, or a DVD title: see `media.disc`) and return it with its first
    video stream; the caller closes the container."""
    if not os.path.exists(path):
        raise MediaError(f"{path} does not exist")
    try:
        container = av.open(disc.url(path), mode="r")
    except av.FFmpegError as exc:
        raise MediaError(f"{path} is not a video file ffmpeg can read ({exc.strerror})") from exc
    videos = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
    if not videos:
        container.close()
        raise MediaError(f"{path} has no video stream")
    return container, videos[0]
