"""What the editor runs on: library versions, the ffmpeg in use and the compute device.

Finding the device imports torch, which holds the interpreter lock for a second or more; done
in the editor's process it would freeze the window even from a worker thread. So it is asked
in a short-lived child process, from a worker that only waits for it. The child is started by
multiprocessing's "spawn" (never fork: the editor has threads), which also works in the
frozen app, where sys.executable is the editor itself (packaging/launch.py calls
freeze_support for it).
"""

from __future__ import annotations

import multiprocessing
import platform
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QMessageBox, QWidget

from sdhd_studio.core.build import version_text
from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.ml.devices import Device, pick_device


@dataclass(frozen=True)
class SystemInfo:
    versions: tuple[tuple[str, str], ...]
    ffmpeg: str  # "7.1 (/path/to/ffmpeg)"
    device: Device | None
    device_error: str | None = None
    preference: str = "auto"  # the device preference `device` was picked for


def collect_system_info(preference: str = "auto") -> SystemInfo:
    """Versions, ffmpeg and the device `preference` (devices.PREFERENCES) resolves to."""
    versions = (
        ("SDHD Studio", version_text()),
        *((name, _version(dist)) for name, dist in (
            ("PyTorch", "torch"),
            ("diffusers", "diffusers"),
            ("OpenCV", "opencv-python"),
            ("PyAV", "av"),
        )),
        ("PySide6", pyside_version),
        ("Python", platform.python_version()),
    )
    device, error = _device(preference)
    return SystemInfo(versions, _ffmpeg_version(), device, error, preference)


def _device(preference: str) -> tuple[Device | None, str | None]:
    # A device that was asked for but is missing is an answer, not a crash: it says why.
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(1, mp_context=spawn) as child:
            return child.submit(pick_device, preference).result(timeout=120), None
    except Exception as exc:  # BackendError, a broken child, a timeout: all say "unavailable"
        return None, str(exc) or type(exc).__name__


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _ffmpeg_version() -> str:
    exe = ffmpeg_exe()
    try:
        out = subprocess.run(
            [exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"
    words = out.split()
    version = words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "unknown"
    return f"{version} ({exe})"


def device_text(info: SystemInfo | None) -> str:
    if info is None:
        return "checking…"
    if info.device is None:
        return f"unavailable ({info.device_error})"
    return f"{info.device.label}" + (f" — {info.device.reason}" if info.device.reason else "")


def show_about(parent: QWidget, info: SystemInfo | None) -> None:
    rows = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in
                   (info.versions if info else ()))
    ffmpeg = info.ffmpeg if info else "checking…"
    QMessageBox.about(
        parent,
        "About SDHD Studio",
        "<h3>SDHD Studio</h3><p>Turns SD video into clean HD, re-rendering only what changed."
        f"</p><table cellspacing=4>{rows}<tr><td>ffmpeg</td><td>{ffmpeg}</td></tr>"
        f"<tr><td>Compute device</td><td>{device_text(info)}</td></tr></table>"
        "<p>MIT license. The bundled sample is from Big Buck Bunny, © Blender Foundation, "
        "CC-BY 3.0.</p>",
    )
