"""The freedesktop files of a Linux install, laid out as they go under a prefix's share/.

`write_share(dest)` renders the SVG icon to the hicolor sizes (with Qt's SVG renderer) and
copies the .desktop entry, the AppStream metainfo and the `.sdhd` project MIME type from
packaging/linux/. build.py puts the result in every build folder, where install-linux.sh and
the Flatpak manifest take it from.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

APP_ID = "io.github.sdhd_studio.SDHDStudio"
LINUX = Path(__file__).resolve().parent / "linux"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
# Where each file goes under share/ (the places menus, software centres and MIME look).
FILES = {
    f"{APP_ID}.desktop": "applications",
    f"{APP_ID}.metainfo.xml": "metainfo",
    f"{APP_ID}.mime.xml": "mime/packages",
    f"{APP_ID}.svg": "icons/hicolor/scalable/apps",
}


def write_share(dest: Path) -> Path:
    """Fill `dest` (a share/ folder) and return it."""
    for name, folder in FILES.items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        target = name.replace(".mime.xml", ".xml")
        shutil.copyfile(LINUX / name, dest / folder / target)
    _render_icons(LINUX / f"{APP_ID}.svg", dest / "icons" / "hicolor")
    return dest


def _render_icons(svg: Path, hicolor: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # fonts for the SVG's text
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        folder = hicolor / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        if not image.save(str(folder / f"{APP_ID}.png")):
            raise OSError(f"cannot write {folder / f'{APP_ID}.png'}")


if __name__ == "__main__":  # the Flatpak manifest: python3 packaging/desktop.py /app/share
    import sys

    print(write_share(Path(sys.argv[1])))
