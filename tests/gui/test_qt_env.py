import os
import subprocess
import sys

from sdhd_studio.gui.qt_env import clear_opencv_qt_paths


def test_opencv_qt_paths_are_removed_and_others_kept():
    env = {
        "QT_QPA_PLATFORM_PLUGIN_PATH": "/venv/lib/python3.11/site-packages/cv2/qt/plugins",
        "QT_QPA_FONTDIR": "/venv/lib/python3.11/site-packages/cv2/qt/fonts",
        "QT_PLUGIN_PATH": "/opt/my-qt/plugins",
    }
    removed = clear_opencv_qt_paths(env)
    assert sorted(removed) == ["QT_QPA_FONTDIR", "QT_QPA_PLATFORM_PLUGIN_PATH"]
    assert env == {"QT_PLUGIN_PATH": "/opt/my-qt/plugins"}


def test_the_editor_starts_after_opencv_was_imported():
    # In a fresh process, as a user runs it: cv2 first (it points Qt at its own Qt 5 plugins,
    # which Qt 6 may try and fail to load), then the editor's application.
    code = (
        "import cv2, os; assert 'cv2' in os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH', ''); "
        "from sdhd_studio.gui.app import make_application; "
        "app = make_application([]); "
        "print(app.platformName(), os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH', '-'))"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "offscreen -"
