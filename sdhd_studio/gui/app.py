"""`sdhd-studio [PROJECT | VIDEO]`: the desktop editor's entry point."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sdhd_studio.gui import headless
from sdhd_studio.gui.qt_env import clear_opencv_qt_paths

# The first full paint: the preview got its frame; a little more lets docks settle.
_SCREENSHOT_SETTLE_MS = 300
_SCREENSHOT_TIMEOUT_MS = 60_000


def make_application(argv: list[str]) -> QApplication:
    """The QApplication, made safe from OpenCV's Qt paths first (see qt_env)."""
    clear_opencv_qt_paths()
    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName("SDHD Studio")
    app.setApplicationName("SDHD Studio")
    app.setStyle("Fusion")
    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdhd-studio", description="SDHD Studio: the desktop editor."
    )
    parser.add_argument("path", nargs="?", help="a project folder (NAME.sdhd) or a video")
    parser.add_argument(
        "--screenshot", metavar="OUT.png",
        help="open the window, wait for its first full paint and the compute device, save a "
        "PNG of it, print where it went and the device, and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.path and not os.path.exists(args.path):
        print(f"sdhd-studio: error: {args.path} does not exist", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = make_application(sys.argv[:1])
    from sdhd_studio.gui.main_window import MainWindow  # after the env clean-up above

    if args.screenshot or headless.no_display():
        answerer = headless.answer_dialogs(app)  # noqa: F841 - installed while the app runs
    window = MainWindow()
    if args.screenshot:
        window.resize(1400, 900)
    window.show()
    if args.path and not window.open_path(args.path) and args.screenshot:
        window.close()
        return 1
    if args.screenshot:
        return _screenshot(app, window, args.screenshot)
    return app.exec()


def _screenshot(app: QApplication, window, out: str) -> int:
    from sdhd_studio.gui.about import device_text

    outcome = {"code": 1}

    def grab() -> None:
        if window.grab().save(out):
            outcome["code"] = 0
            print(f"{out}: compute {device_text(window.system_info)}")
        else:
            print(f"sdhd-studio: error: cannot write {out}", file=sys.stderr)
        window.close()

    def when_device_known() -> None:
        # The status bar names the compute device once a child process has answered: the
        # picture waits for it, and a frozen app's child start-up is exercised on the way.
        if window.system_info is None:
            QTimer.singleShot(50, when_device_known)
        else:
            QTimer.singleShot(_SCREENSHOT_SETTLE_MS, grab)

    def painted(*_: object) -> None:
        window.frameShown.disconnect(painted)
        when_device_known()

    def too_slow() -> None:
        if outcome["code"] == 1 and window.isVisible():
            print("sdhd-studio: error: the window did not finish painting", file=sys.stderr)
            window.close()

    if window.document is not None:
        window.frameShown.connect(painted)
    elif window.task is not None:  # a project being made from the video: wait for it
        window.frameShown.connect(painted)
        window.task.failed.connect(window.close)  # after its message, answered (headless)
        window.task.cancelled.connect(window.close)
    else:
        when_device_known()
    QTimer.singleShot(_SCREENSHOT_TIMEOUT_MS, too_slow)
    app.exec()
    return outcome["code"]


if __name__ == "__main__":
    raise SystemExit(main())
