"""Locating the ffmpeg executable, what it can encode, and reading its log lines."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

import imageio_ffmpeg

_LOG_PREFIX = re.compile(r"^(\[[^\]]* @ 0x[0-9a-f]+\] ?)+")


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg to run: a system install wins (it may have hardware encoders)."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def video_encoders() -> frozenset[str]:
    """Names of the video encoders this ffmpeg offers (e.g. libx264, h264_nvenc)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # Encoder rows look like " V....D libx264   description"; the legend above them
        # uses "=" in place of a name, so it never matches.
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "V" and parts[1] != "=":
            names.add(parts[1])
    return frozenset(names)


def log_message(line: str) -> str:
    """An ffmpeg log line without its "[libx264 @ 0x55d1...]" source tags."""
    return _LOG_PREFIX.sub("", line).strip()
