"""`sdhd` as a user runs it: the happy path, --json output, and bad input that loses nothing."""

import contextlib
import json
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

import clips
import numpy as np
import pytest
from PIL import Image

from sdhd_studio.cli.main import main
from sdhd_studio.media.probe import probe


def sdhd(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def project(tiny_clip, tmp_path, capsys):
    path = tmp_path / "tiny.sdhd"
    code, _, err = sdhd(capsys, "new", tiny_clip, "-o", path, "--height", 180)
    assert code == 0, err
    return path


def test_new_info_status(project, capsys):
    code, out, _ = sdhd(capsys, "info", project, "--json")
    info = last_json(out)
    assert code == 0
    assert (info["source"]["frames"], info["source"]["fps"]) == (clips.TINY_FRAMES, "24")
    assert (info["output"]["width"], info["output"]["height"]) == (320, 180)
    code, out, _ = sdhd(capsys, "status", project, "--json")
    status = last_json(out)
    assert status["counts"]["empty"] == clips.TINY_FRAMES
    assert status["todo_ranges"] == [[0, clips.TINY_FRAMES - 1]]
    code, out, _ = sdhd(capsys, "info", project)
    assert "160x90" in out and "320x180" in out


def test_render_then_change_one_keyframe_renders_only_its_frames(project, capsys):
    sdhd(capsys, "keyframe", "set", project, 12, "--set", "sharpen=0.3")
    code, out, _ = sdhd(capsys, "render", project, "--json", "--workers", 2)
    assert code == 0
    assert last_json(out)["rendered"] == clips.TINY_FRAMES
    sdhd(capsys, "keyframe", "set", project, 12, "--set", "sharpen=0.8")
    code, out, _ = sdhd(capsys, "render", project, "--json")
    result = last_json(out)
    assert (result["rendered"], result["cached"], result["failed"]) == (12, 12, 0)
    # A setting Lanczos does not use dirties nothing.
    sdhd(capsys, "keyframe", "set", project, 12, "--set", "prompt=sharp film")
    assert last_json(sdhd(capsys, "render", project, "--json")[1])["rendered"] == 0
    sdhd(capsys, "keyframe", "rm", project, 12)
    assert last_json(sdhd(capsys, "render", project, "--json")[1])["rendered"] == 12


def test_render_a_frame_range(project, capsys):
    code, out, _ = sdhd(capsys, "render", project, "--frames", "3-5", "--json")
    assert last_json(out)["rendered"] == 3
    code, out, _ = sdhd(capsys, "status", project, "--json")
    assert last_json(out)["counts"]["done"] == 3


def test_mask_set_and_rm(project, tmp_path, capsys):
    mask = np.zeros((90, 160), np.uint8)
    mask[10:30, 10:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code, out, err = sdhd(capsys, "mask", "set", project, 4, tmp_path / "mask.png", "--hold", 3,
                          "--json")
    assert code == 0, err
    assert last_json(out)["end"] == 6
    code, out, _ = sdhd(capsys, "render", project, "--json")
    sdhd(capsys, "mask", "rm", project, 4)
    assert last_json(sdhd(capsys, "render", project, "--json")[1])["rendered"] == 3


def test_export_writes_the_hd_video(project, tmp_path, capsys):
    out_path = tmp_path / "out.mp4"
    code, out, err = sdhd(capsys, "export", project, "-o", out_path, "--preset", "ultrafast",
                          "--crf", 28, "--json")
    assert code == 0, err
    assert last_json(out)["frames"] == clips.TINY_FRAMES
    info = probe(str(out_path))
    assert (info.width, info.height, info.frame_count) == (320, 180, clips.TINY_FRAMES)


def test_upscale_in_one_step_and_clean_up(tiny_clip, tmp_path, capsys):
    out_path = tmp_path / "hd.mp4"
    code, out, err = sdhd(capsys, "upscale", tiny_clip, "-o", out_path, "--scale", 2,
                          "--fps-multiplier", 2, "--preset", "ultrafast", "--json")
    assert code == 0, err
    info = probe(str(out_path))
    assert (info.width, info.height) == (320, 180)
    assert info.frame_count == 2 * clips.TINY_FRAMES
    assert not (tmp_path / "hd.sdhd").exists()


def test_backends_lists_the_builtin_ones(capsys):
    code, out, _ = sdhd(capsys, "backends", "--json")
    listing = last_json(out)
    assert listing["device"]["name"] in ("cpu", "cuda:0", "mps") and listing["device"]["reason"]
    rows = {(r["kind"], r["name"]): r for r in listing["backends"]}
    assert rows[("upscale", "lanczos")]["usable"] and rows[("inpaint", "telea")]["usable"]
    assert rows[("upscale", "lanczos")]["uses"] == ["sharpen"]


# -- bad input: one clear line, exit code != 0, nothing lost --------------------------------


def fails(capsys, *argv, match):
    code, out, err = sdhd(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sdhd: error:"), err
    assert match in lines[0], lines[0]
    return lines[0]


def test_missing_file(tmp_path, capsys):
    fails(capsys, "new", tmp_path / "nope.mp4", "-o", tmp_path / "p.sdhd", match="nope.mp4")
    assert not (tmp_path / "p.sdhd").exists()


def test_not_a_video(not_a_video, tmp_path, capsys):
    fails(capsys, "new", not_a_video, "-o", tmp_path / "p.sdhd", match="notes.mp4")


def test_no_video_stream(audio_only_file, tmp_path, capsys):
    fails(capsys, "new", audio_only_file, "-o", tmp_path / "p.sdhd", match="no video")


def test_zero_frames(tmp_path, capsys):
    empty = tmp_path / "empty.y4m"
    empty.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    fails(capsys, "new", empty, "-o", tmp_path / "p.sdhd", match="no frames")


def test_a_folder_that_is_not_a_project(tmp_path, capsys):
    (tmp_path / "VIDEO_TS").mkdir()
    fails(capsys, "info", tmp_path / "VIDEO_TS", match="is not a project (it has no project.json)")


def test_frame_out_of_range_changes_nothing(project, capsys):
    before = (project / "project.json").read_bytes()
    fails(capsys, "keyframe", "set", project, 500, "--set", "seed=1",
          match=f"frame 500 is out of range: the video has {clips.TINY_FRAMES} frames")
    fails(capsys, "render", project, "--frames", "20-99", match="frame 99 is out of range")
    assert (project / "project.json").read_bytes() == before


def test_bad_settings_and_backends(project, capsys):
    before = (project / "project.json").read_bytes()
    fails(capsys, "keyframe", "set", project, 3, "--set", "strength=7", match="strength must be")
    fails(capsys, "keyframe", "set", project, 3, "--upscaler", "magic",
          match="unknown upscaler 'magic'; available: bicubic, diffusion, diffusion-refine, "
                "lanczos, model, realesrgan")
    assert (project / "project.json").read_bytes() == before


def test_bad_masks(project, tmp_path, capsys):
    Image.new("L", (64, 64)).save(tmp_path / "small.png")
    (tmp_path / "text.png").write_text("not an image")
    fails(capsys, "mask", "set", project, 2, tmp_path / "small.png", match="64x64")
    fails(capsys, "mask", "set", project, 2, tmp_path / "text.png", match="text.png")
    assert not list((project / "masks").iterdir())


def test_unwritable_output(project, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits; sysfs refuses anyone
            locked = Path("/sys")
        fails(capsys, "export", project, "-o", locked / "out.mp4", match="not writable")
    finally:
        (tmp_path / "locked").chmod(0o755)
    fails(capsys, "export", project, "-o", tmp_path / "no" / "such" / "dir.mp4",
          match="no/such does not exist")


def test_replaced_source(tiny_clip, odd_clip, tmp_path, capsys):
    import shutil

    video = tmp_path / "v.mp4"
    shutil.copy(tiny_clip, video)
    sdhd(capsys, "new", video, "-o", tmp_path / "p.sdhd")
    shutil.copy(odd_clip, video)
    fails(capsys, "render", tmp_path / "p.sdhd", match="replaced")


def test_newer_project_schema(project, capsys):
    data = json.loads((project / "project.json").read_text())
    data["schema"] = 7
    (project / "project.json").write_text(json.dumps(data))
    fails(capsys, "status", project, match="newer SDHD Studio")


def test_demo_makes_an_hd_video_of_the_bundled_sample(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    code, stdout, err = sdhd(capsys, "demo", "-o", out, "--json")
    assert code == 0, err
    assert last_json(stdout)["path"] == str(out)
    info, source = probe(str(out)), probe(str(clips.SAMPLE))
    assert (info.width, info.height) == (1280, 720)
    assert info.frame_count == source.frame_count
    assert abs(clips.audio_duration(out) - source.frame_count / source.fps) < 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.mp4"]


def test_progress_bar_is_drawn_on_a_terminal_only(project, tmp_path):
    command = [sys.executable, "-m", "sdhd_studio", "render", str(project)]
    master, slave = pty.openpty()
    try:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=slave, check=True, timeout=120)
        os.close(slave)
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once everything written has been read
            while chunk := os.read(master, 65536):
                drawn += chunk
    finally:
        os.close(master)
    assert f"render [{'#' * 30}] {clips.TINY_FRAMES}/{clips.TINY_FRAMES}".encode() in drawn
    subprocess.run(["rm", "-r", str(project / "cache")], check=True)
    piped = subprocess.run(command, capture_output=True, check=True, timeout=120)
    assert b"render [" not in piped.stderr and b"\r" not in piped.stderr
