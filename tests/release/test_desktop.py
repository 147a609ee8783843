"""The Linux desktop files in packaging/linux/: valid, consistent with each other and with the
version, and rendered into a share/ tree menus read. No frozen build needed."""

import configparser
import importlib.util
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from sdhd_studio import __version__

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.sdhd_studio.SDHDStudio"


def _desktop_module():
    spec = importlib.util.spec_from_file_location("desktop", ROOT / "packaging" / "desktop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(LINUX / f"{APP_ID}.desktop")
    return parser["Desktop Entry"]


def test_the_metainfo_names_this_version_first_and_launches_the_desktop_entry():
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    releases = root.find("releases").findall("release")
    assert releases[0].get("version") == __version__
    assert releases[0].find("description") is not None
    assert root.find("screenshots/screenshot/image").text.endswith(".png")


def test_the_desktop_entry_opens_videos_and_projects_from_a_file_manager():
    entry = _entry()
    assert entry["Exec"] == "sdhd-studio %f" and entry["Icon"] == APP_ID
    types = entry["MimeType"].rstrip(";").split(";")
    assert {"video/mp4", "video/x-matroska", "video/dv", "video/mpeg"} <= set(types)
    project = ET.parse(LINUX / f"{APP_ID}.mime.xml").getroot()[0]
    assert project.get("type") in types
    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    assert project.find(f"{ns}glob").get("pattern") == "*.sdhd"


@pytest.mark.parametrize("tool, name", [
    (["appstreamcli", "validate", "--no-net"], f"{APP_ID}.metainfo.xml"),
    (["desktop-file-validate"], f"{APP_ID}.desktop"),
])
def test_the_freedesktop_validators_accept_the_files(tool, name):
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} is not installed (apt-get install appstream desktop-file-utils)")
    result = subprocess.run([*tool, str(LINUX / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_share_tree_has_every_icon_size_and_the_files_where_menus_look(tmp_path):
    desktop = _desktop_module()
    share = desktop.write_share(tmp_path / "share")
    for size in desktop.ICON_SIZES:
        icon = QImage(str(share / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"))
        assert (icon.width(), icon.height()) == (size, size)
        assert icon.pixelColor(size // 2, size // 2).alpha() == 255  # drawn, not empty
    for path in (f"applications/{APP_ID}.desktop", f"metainfo/{APP_ID}.metainfo.xml",
                 f"mime/packages/{APP_ID}.xml", f"icons/hicolor/scalable/apps/{APP_ID}.svg"):
        assert (share / path).is_file(), path
