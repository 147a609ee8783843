"""An export stopped by a signal leaves no ffmpeg running and no file, whole or partial."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import clips
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

FRAMES = 100
# Exports through the library with no signal handling: SIGINT is a KeyboardInterrupt there.
_LIBRARY_EXPORT = textwrap.dedent("""
    import sys
    from sdhd_studio.render.export import export_video
    from sdhd_studio.render.session import Session
    export_video(Session.open(sys.argv[1]), sys.argv[2], allow_preview=True)
""")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals")
    source = folder / "tape.mp4"
    clips.run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=25:d={FRAMES / 25}",
        "-f", "lavfi", "-i", f"sine=d={FRAMES / 25}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-c:a", "aac", str(source),
    )  # fmt: skip
    subprocess.run([*_sdhd(), "new", str(source), "-o", str(folder / "tape.sdhd"),
                    "--height", "360"], check=True, env=_env(), capture_output=True)
    return folder / "tape.sdhd"


def _sdhd():
    return [sys.executable, "-m", "sdhd_studio"]


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _children(pid):
    """{pid: command line} of the live processes whose parent is `pid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # it ended while we looked
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state not in "ZX":
            found[int(entry.name)] = cmdline
    return found


def _bytes_read(pid):
    try:
        io = (Path(f"/proc/{pid}") / "io").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in io.splitlines() if line.startswith("rchar:")))


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


@pytest.mark.parametrize(("how", "sig"), [
    ("cli", signal.SIGINT), ("cli", signal.SIGTERM), ("library", signal.SIGINT),
])
def test_interrupted_export_leaves_no_ffmpeg_and_no_file(project, tmp_path, how, sig):
    out = tmp_path / "hd.mkv"
    if how == "cli":
        command = [*_sdhd(), "export", str(project), "-o", str(out), "--allow-preview",
                   "--preset", "medium"]
    else:
        command = [sys.executable, "-c", _LIBRARY_EXPORT, str(project), str(out)]
    export = subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        encoder = None
        deadline = time.monotonic() + 60
        # Mid-way: the encoder has taken in 10 of the frames (640x360 RGB) from its pipe.
        while encoder is None or _bytes_read(encoder) < 10 * 640 * 360 * 3:
            assert export.poll() is None, export.stderr.read()
            assert time.monotonic() < deadline, "the export never got going"
            encoder = encoder or next((pid for pid, cmd in _children(export.pid).items()
                                       if "rawvideo" in cmd), None)
            time.sleep(0.02)
        os.kill(export.pid, signal.SIGSTOP)  # hold it mid-way while the signal is sent
        assert not out.exists()
        os.kill(export.pid, sig)
        os.kill(export.pid, signal.SIGCONT)
        stderr = export.communicate(timeout=60)[1]
    finally:
        if export.poll() is None:
            export.kill()
    if how == "cli":
        assert export.returncode == 130 and "sdhd: cancelled" in stderr
    else:
        assert export.returncode != 0 and "KeyboardInterrupt" in stderr, stderr
    assert not _alive(encoder)
    assert os.listdir(tmp_path) == []  # no output, no temps, no lock file
