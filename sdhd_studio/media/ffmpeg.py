"""Locating the ffmpeg executable and what it can encode."""

from __future__ import annotations

import functools
import shutil
import subprocess

import imageio_ffmpeg


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
