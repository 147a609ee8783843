"""The frozen app (python packaging/build.py lite|full), run as a user without Python would:
packaging/smoke.sh, then its outputs checked again here with PyAV, and the Linux install into
a fresh HOME. Skipped when no build is in dist/ (CI does not build: it takes minutes)."""

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import av
import pytest
from PySide6.QtGui import QImage

from sdhd_studio import __version__
from tests.ml import tiny_sd

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.sdhd_studio.SDHDStudio"
FLAVOURS = ("lite", "full")
SAMPLE = ROOT / "resources" / "samples" / "bbb_sd.mp4"


def _build(flavour: str) -> Path:
    build = ROOT / "dist" / f"sdhd-studio-{flavour}-{__version__}"
    if not (build / "sdhd").exists():
        pytest.skip(f"no frozen {flavour} build in {build.parent} "
                    f"(python packaging/build.py {flavour} makes one)")
    return build


def _video(path: Path) -> tuple[int, tuple[int, int], bool]:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        has_audio = bool(container.streams.audio)
    return len(frames), frames[0].shape[1::-1], has_audio


@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_frozen_app_runs_on_its_own(flavour, tmp_path):
    build = _build(flavour)
    result = subprocess.run(
        ["bash", str(ROOT / "packaging" / "smoke.sh"), str(build), str(tmp_path)],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sample_frames, _, _ = _video(SAMPLE)
    assert _video(tmp_path / "demo.mp4") == (sample_frames, (1280, 720), True)
    assert _video(tmp_path / "clip_hd.mp4") == (12, (1280, 720), False)
    shot = QImage(str(tmp_path / "editor.png"))
    assert (shot.width(), shot.height()) == (1400, 900)


@pytest.mark.slow
def test_installing_into_home_puts_the_app_where_menus_look_and_it_opens_a_video(tmp_path):
    build = _build("lite")
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run(["sh", str(build / "install-linux.sh")], env=env, check=True,
                   capture_output=True, timeout=300)
    share = home / ".local" / "share"
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(share / "applications" / f"{APP_ID}.desktop")
    exec_line = entry["Desktop Entry"]["Exec"].split()
    assert exec_line[0] == str(home / ".local/lib/sdhd-studio/sdhd-studio")
    assert (share / f"icons/hicolor/48x48/apps/{APP_ID}.png").is_file()
    assert (share / f"icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()
    assert (share / f"metainfo/{APP_ID}.metainfo.xml").is_file()
    assert (share / f"mime/packages/{APP_ID}.xml").is_file()
    version = subprocess.run([str(home / ".local/bin/sdhd"), "--version"], env=env,
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"sdhd {__version__} (lite build)"
    # What a double-click on a video runs: the menu entry's command with the file for %f.
    shot, video = tmp_path / "opened.png", tmp_path / "tape.mp4"
    shutil.copyfile(SAMPLE, video)  # the editor makes its project beside the video
    command = [exec_line[0], "--screenshot", str(shot), str(video)]
    opened = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert opened.returncode == 0, opened.stderr
    assert QImage(str(shot)).width() == 1400
    uninstall = subprocess.run(["sh", str(build / "install-linux.sh"), "--uninstall"], env=env,
                               capture_output=True, timeout=120)
    assert uninstall.returncode == 0
    assert not (share / "applications" / f"{APP_ID}.desktop").exists()
    assert not os.path.lexists(home / ".local/bin/sdhd")


@pytest.mark.slow
def test_the_full_build_renders_with_diffusion(tmp_path):
    """torch, diffusers and transformers frozen: a tiny random x4 upscaler (made here, with
    this environment's diffusers) runs inside the full build on a 3-frame clip."""
    build = _build("full")
    model = tiny_sd.save_upscaler(tmp_path / "tiny-upscaler", prompted=True)
    clip = tmp_path / "clip.mp4"
    with av.open(str(SAMPLE)) as source, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == 3:
                break
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(build / "sdhd"), "upscale", str(clip), "-o", str(tmp_path / "hd.mp4"),
         "--upscaler", "diffusion", "--set", f"model={model}", "--set", "steps=2",
         "--height", "720"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert _video(tmp_path / "hd.mp4") == (3, (1280, 720), False)
