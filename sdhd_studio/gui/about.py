"""What the editor runs on: library versions, the ffmpeg in use and the compute device.

Finding the device imports torch, which holds the interpreter lock for a second or more; done
in the editor's process it would freeze the window even from a worker thread. So it is asked
in a short-lived child process, from a worker that only waits for it.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QMessageBox, QWidget

from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.ml.devices import Device


@dataclass(frozen=True)
class SystemInfo:
    versions: tuple[tuple[str, str], ...]
    ffmpeg: str  # "7.1 (/path/to/ffmpeg)"
    device: Device | None
    device_error: str | None = None
    preference: str = "auto"  # the device preference `device` was picked for


def collect_system_info(preference: str = "auto") -> SystemInfo:
    """Versions, ffmpeg and the device `preference` (devices.PREFERENCES) resolves to."""
    versions = tuple(
        (name, _version(dist))
        for name, dist in (
            ("SDHD Studio", "sdhd-studio"),
            ("PyTorch", "torch"),
            ("diffusers", "diffusers"),
            ("OpenCV", "opencv-python"),
            ("PyAV", "av"),
        )
    ) + (("PySide6", pyside_version), ("Python", platform.python_version()))
    device, error = _device(preference)
    return SystemInfo(versions, _ffmpeg_version(), device, error, preference)


# A device that was asked for but is missing is an answer, not a crash: it says why.
_ASK_DEVICE = (
    "import dataclasses, json, sys\n"
    "from sdhd_studio.core.errors import BackendError\n"
    "from sdhd_studio.ml.devices import pick_device\n"
    "try:\n"
    "    print(json.dumps({'device': dataclasses.asdict(pick_device(sys.argv[1]))}))\n"
    "except BackendError as exc:\n"
    "    print(json.dumps({'error': str(exc)}))\n"
)


def _device(preference: str) -> tuple[Device | None, str | None]:
    try:
        out = subprocess.run(
            [sys.executable, "-c", _ASK_DEVICE, preference],
            capture_output=True, text=True, timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"exit status {out.returncode}"
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    if "error" in answer:
        return None, answer["error"]
    return Device(**answer["device"]), None


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
