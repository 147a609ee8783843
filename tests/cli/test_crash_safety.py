"""A killed render resumes where it stopped; a full disk fails cleanly and loses nothing."""

import json
import resource
import signal
import subprocess
import sys
import time

import pytest

from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.session import Session


def sdhd(*argv, file_limit=None, **kwargs):
    def limit():
        # A file-size limit makes writes fail with EFBIG, as a full disk fails them with ENOSPC.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "sdhd_studio", *map(str, argv)],
        capture_output=True, text=True, preexec_fn=limit if file_limit else None, **kwargs,
    )


@pytest.fixture
def project(sample_clip, tmp_path):
    path = tmp_path / "bbb.sdhd"
    assert sdhd("new", sample_clip, "-o", path, "--height", 720).returncode == 0
    return path


def test_kill_9_during_render_then_rerun_renders_only_the_rest(project):
    cache = FrameCache(project / "cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdhd_studio", "render", str(project), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(cache.keys()) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = cache.keys()
    total = Session.open(project).project.frame_count
    assert 8 <= len(kept) < total
    for key in kept:  # every entry is a whole frame
        assert cache.get(key).shape == (720, 1280, 3)
    result = sdhd("render", project, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["rendered"], summary["cached"]) == (total - len(kept), len(kept))


def test_disk_full_during_render_fails_frames_cleanly(project):
    before = (project / "project.json").read_bytes()
    result = sdhd("render", project, "--frames", "0-3", "--json", file_limit=200_000)
    assert result.returncode == 1
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["failed"] == 4 and summary["rendered"] == 0
    assert all(m.startswith("disk full") for m in summary["errors"].values())
    assert (project / "project.json").read_bytes() == before
    assert FrameCache(project / "cache").keys() == set()
    assert not list((project / "cache").rglob(".*.tmp"))
    # Space again: the same frames render.
    assert json.loads(sdhd("render", project, "--frames", "0-3", "--json").stdout)["rendered"] == 4


def test_disk_full_during_export_leaves_no_file_and_an_intact_project(project, tmp_path):
    assert sdhd("render", project).returncode == 0
    out = tmp_path / "out.mp4"
    result = sdhd("export", project, "-o", out, "--preset", "ultrafast", file_limit=100_000)
    assert result.returncode == 1
    assert result.stderr.startswith("sdhd: error:")
    assert not out.exists() and not list(tmp_path.glob(".*mp4"))
    assert Session.open(project).status().counts()["done"] > 0
    assert sdhd("export", project, "-o", out, "--preset", "ultrafast").returncode == 0
    assert out.exists()


def _interrupt_when(proc, ready, timeout=60):
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


def test_ctrl_c_during_render_keeps_finished_frames(project):
    cache = FrameCache(project / "cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdhd_studio", "render", str(project), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, _ = _interrupt_when(proc, lambda: len(cache.keys()) >= 4)
    assert proc.returncode == 130
    summary = json.loads(out.splitlines()[-1])
    kept = cache.keys()
    assert summary["cancelled"] and summary["rendered"] == len(kept) >= 4
    result = sdhd("render", project, "--json")
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["cached"] == len(kept) and summary["failed"] == 0


def test_ctrl_c_during_upscale_leaves_no_video_and_the_rerun_resumes(sample_clip, tmp_path):
    out = tmp_path / "hd.mp4"
    cache = FrameCache(tmp_path / "hd.sdhd" / "cache")
    # --keep-project: a working project removed at the end does not store Lanczos frames
    # (remaking one costs less than storing it), so there would be nothing to resume.
    command = ["upscale", sample_clip, "-o", out, "--height", 720, "--preset", "ultrafast",
               "--keep-project"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdhd_studio", *map(str, command)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _, err = _interrupt_when(proc, lambda: len(cache.keys()) >= 4)
    assert proc.returncode == 130 and "cancelled" in err
    assert not out.exists() and not list(tmp_path.glob(".*.mp4"))
    kept = len(cache.keys())
    result = sdhd(*command, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["rendered"] == report["frames"] - kept
