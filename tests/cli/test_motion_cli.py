"""Guided mode, frame-rate conversion, cuts and tracked masks from the command line."""

import clips
import numpy as np
from PIL import Image

from sdhd_studio.media.probe import probe
from tests.cli.test_cli import fails, last_json, sdhd


def test_guided_keyframes_every_8_then_changing_one_renders_15(bbb_clip, tmp_path, capsys):
    project = tmp_path / "bbb.sdhd"
    code, out, err = sdhd(capsys, "new", bbb_clip, "-o", project, "--height", 180,
                          "--mode", "guided", "--keyframe-every", 8, "--upscaler", "bicubic",
                          "--fast-upscaler", "lanczos", "--json")
    assert code == 0, err
    info = last_json(out)
    assert [kf["frame"] for kf in info["keyframes"]] == [0, 8, 16, 24, 32]
    assert info["cuts"] == []  # one shot
    code, out, err = sdhd(capsys, "render", project, "--json")
    assert (code, last_json(out)["rendered"]) == (0, clips.BBB_FRAMES), err
    sdhd(capsys, "keyframe", "set", project, 16, "--upscaler", "lanczos")
    code, out, _ = sdhd(capsys, "render", project, "--json")
    assert (code, last_json(out)["rendered"]) == (0, 15)


def test_upscale_doubles_the_frame_rate_with_interpolated_frames(bbb_clip, tmp_path, capsys):
    out_path = tmp_path / "double.mp4"
    code, out, err = sdhd(capsys, "upscale", bbb_clip, "-o", out_path, "--height", 180,
                          "--fps-multiplier", 2, "--interpolator", "dis", "--preset",
                          "ultrafast", "--keep-project", "--json")
    assert code == 0, err
    result = last_json(out)
    assert result["frames"] == 2 * clips.BBB_FRAMES and result["fps"] == "50"
    assert result["rendered"] == clips.BBB_FRAMES + clips.BBB_FRAMES - 1  # frames + pairs
    info = probe(str(out_path))
    assert (info.frame_count, info.fps) == (2 * clips.BBB_FRAMES, 50)
    code, out, _ = sdhd(capsys, "status", tmp_path / "double.sdhd", "--json")
    between = last_json(out)["in_between"]
    assert between == {"total": clips.BBB_FRAMES - 1, "done": clips.BBB_FRAMES - 1}


def test_cuts_set_remove_and_bad_frames(bbb_clip, tmp_path, capsys):
    project = tmp_path / "bbb.sdhd"
    sdhd(capsys, "new", bbb_clip, "-o", project)
    code, out, _ = sdhd(capsys, "cut", "set", project, 10, "--json")
    assert last_json(out)["cuts"] == [10]
    code, out, _ = sdhd(capsys, "cut", "detect", project, "--json")
    assert last_json(out)["cuts"] == [10]  # the clip has no cut of its own; the manual one stays
    sdhd(capsys, "cut", "rm", project, 10)
    before = (project / "project.json").read_bytes()
    fails(capsys, "cut", "set", project, 0, match="frame 0 always starts a shot")
    fails(capsys, "cut", "set", project, 99, match="frame 99 is out of range")
    fails(capsys, "keyframe", "auto", project, "--every", 0, match="at least 1 frame")
    fails(capsys, "new", bbb_clip, "-o", tmp_path / "x.sdhd", "--interpolator", "warp",
          match="unknown interpolator 'warp'; available: dis, rife")
    fails(capsys, "keyframe", "set", project, 3, "--set", "mode=fancy",
          match="mode must be one of per-frame, guided")
    assert (project / "project.json").read_bytes() == before


def test_a_tracked_mask_follows_frames_and_renders(bbb_clip, tmp_path, capsys):
    project = tmp_path / "bbb.sdhd"
    sdhd(capsys, "new", bbb_clip, "-o", project, "--height", 180)
    mask = np.zeros((90, 160), np.uint8)
    mask[40:56, 70:90] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    code, out, err = sdhd(capsys, "mask", "set", project, 10, tmp_path / "m.png", "--track",
                          "--until", 20, "--start", 5, "--json")
    assert code == 0, err
    result = last_json(out)
    assert (result["start"], result["end"]) == (5, 20), result["warnings"]
    code, out, _ = sdhd(capsys, "info", project, "--json")
    (m,) = last_json(out)["masks"]
    assert (m["frame"], m["start"], m["end"], m["track"]) == (10, 5, 20, True)
    code, out, err = sdhd(capsys, "render", project, "--json", "--frames", "3-22")
    assert (code, last_json(out)["failed"]) == (0, 0), err
    fails(capsys, "mask", "set", project, 4, tmp_path / "m.png", "--start", 2,
          match="--start needs --track")
