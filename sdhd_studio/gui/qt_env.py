"""Making the process environment safe for PySide6 before the QApplication exists.

opencv-python ships its own Qt 5 plugins and, when `cv2` is imported, points
QT_QPA_PLATFORM_PLUGIN_PATH (and QT_QPA_FONTDIR) at them. Qt 6 then loads no platform plugin
and aborts at startup, so those variables are dropped when they point into OpenCV's folder.
A value the user set to anything else is left alone.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

_OPENCV_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR", "QT_PLUGIN_PATH")


def clear_opencv_qt_paths(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Remove the Qt variables that point into OpenCV's bundled Qt; returns the names removed."""
    removed = []
    for name in _OPENCV_VARIABLES:
        value = environ.get(name, "")
        if any(_is_opencv_path(part) for part in value.split(os.pathsep) if part):
            del environ[name]
            removed.append(name)
    return removed


def _is_opencv_path(path: str) -> bool:
    parts = os.path.normpath(path).split(os.sep)
    return "cv2" in parts
