"""`python packaging/build.py lite|full`: the frozen one-folder app in dist/.

Writes dist/sdhd-studio-FLAVOUR-VERSION/ with the `sdhd` and `sdhd-studio` executables (see
sdhd-studio.spec for what goes in). Needs the project's dependencies and the `package` extra
(`pip install -e ".[package]"`) in the running Python; `full` also needs torch and diffusers.
Work files go to build/pyinstaller-FLAVOUR/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import desktop  # noqa: E402 (this folder: build.py runs as a script)

from sdhd_studio import __version__  # noqa: E402

FLAVOURS = ("lite", "full")


def dist_name(flavour: str) -> str:
    return f"sdhd-studio-{flavour}-{__version__}"


def stage_package(work: Path) -> Path:
    """The package laid out as pip installs it: pyproject.toml maps the top-level resources/
    into sdhd_studio.resources, which PyInstaller cannot follow from a source checkout."""
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sdhd_studio", stage / "sdhd_studio", ignore=junk)
    shutil.copytree(ROOT / "resources", stage / "sdhd_studio" / "resources", ignore=junk)
    return stage


def build(flavour: str) -> Path:
    work = ROOT / "build" / f"pyinstaller-{flavour}"
    work.mkdir(parents=True, exist_ok=True)
    stage = stage_package(work)
    info = work / "build.json"
    info.write_text(json.dumps({"flavour": flavour}) + "\n")
    share = desktop.write_share(work / "share")
    env = {
        **os.environ,
        "SDHD_FLAVOUR": flavour,
        "SDHD_STAGE": str(stage),
        "SDHD_BUILD_INFO": str(info),
        "SDHD_DIST_NAME": dist_name(flavour),
        "SDHD_ICON": str(share / "icons/hicolor/256x256/apps" / f"{desktop.APP_ID}.png"),
    }
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
         "--workpath", str(work / "work"), "--distpath", str(ROOT / "dist"),
         str(ROOT / "packaging" / "sdhd-studio.spec")],
        env=env, check=True,
    )
    out = ROOT / "dist" / dist_name(flavour)
    shutil.copytree(share, out / "share")
    shutil.copy2(ROOT / "packaging" / "linux" / "install-linux.sh", out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flavour", choices=FLAVOURS)
    args = parser.parse_args()
    start = time.monotonic()
    out = build(args.flavour)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"built {out} ({size / 2**20:.0f} MiB) in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
