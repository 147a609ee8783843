"""Tapes and discs through `sdhd`: the analysis shown, fields become frames, overrides."""

import contextlib
import json
import os
import pty
import subprocess
import sys

import clips
import numpy as np
from PIL import Image
from source_clips import FILM_FRAMES, PAL_FIELDS

from sdhd_studio.cli.main import main
from sdhd_studio.media.combing import comb_score
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader


def sdhd(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dvd_stream_becomes_field_rate_hd_with_its_audio(tapes, tmp_path, capsys):
    out = tmp_path / "hd.mp4"
    code, _, err = sdhd(capsys, "upscale", tapes("pal_mpg"), "-o", out, "--height", 288,
                        "--crf", 10, "--preset", "ultrafast")  # fmt: skip
    assert code == 0, err
    info = probe(str(out))
    assert (info.fps, info.frame_count) == (50, PAL_FIELDS)
    assert abs(clips.audio_duration(out) - 1.0) < 0.05
    with FrameReader(str(out)) as reader:
        frames = [f.astype(np.float32).mean(axis=2) for _, f in reader.frames()]
    combs = [comb_score(f, np.abs(f - p) > 8) for p, f in zip(frames, frames[1:], strict=False)]
    assert max(combs) < 0


def test_info_shows_the_analysis_and_overrides_apply(tapes, tmp_path, capsys):
    project = tmp_path / "dv.sdhd"
    code, _, err = sdhd(capsys, "new", tapes("dv_avi"), "-o", project, "--height", 240)
    assert code == 0, err
    code, out, _ = sdhd(capsys, "info", project, "--json")
    source = json.loads(out.strip().splitlines()[-1])["source"]
    assert source["analysis"]["scan"] == "interlaced"
    assert source["analysis"]["field_order"] == "bff"
    assert source["conditioning"]["mode"] == "double"
    assert (source["frames"], source["fps"]) == (60, "60000/1001")
    code, out, _ = sdhd(capsys, "info", project)
    assert "interlaced bff" in out and "one frame per field" in out

    woven = tmp_path / "woven.sdhd"
    code, _, err = sdhd(capsys, "new", tapes("dv_avi"), "-o", woven, "--deinterlace", "off",
                        "--colour-matrix", "bt709")  # fmt: skip
    assert code == 0, err
    code, out, _ = sdhd(capsys, "info", woven, "--json")
    source = json.loads(out.strip().splitlines()[-1])["source"]
    assert (source["frames"], source["conditioning"]["matrix"]) == (30, "bt709")


def test_a_raw_dv_tape_makes_a_project_that_opens_again(tapes, tmp_path, capsys):
    # FFmpeg reports raw DV's average rate as its timebase (60000 fps).
    project = tmp_path / "raw.sdhd"
    code, _, err = sdhd(capsys, "new", tapes("dv_raw"), "-o", project)
    assert code == 0, err
    code, out, err = sdhd(capsys, "info", project, "--json")
    assert code == 0, err
    source = json.loads(out.strip().splitlines()[-1])["source"]
    assert (source["frames"], source["fps"]) == (60, "60000/1001")


def test_rerun_with_other_conditioning_is_refused(tapes, tmp_path, capsys):
    out = tmp_path / "hd.mp4"
    project = tmp_path / "work.sdhd"
    code, _, err = sdhd(capsys, "new", tapes("pal_mpg"), "-o", project)
    assert code == 0, err
    code, _, err = sdhd(capsys, "upscale", tapes("pal_mpg"), "-o", out, "--project", project,
                        "--deinterlace", "single")  # fmt: skip
    assert code == 1
    assert "was made with --deinterlace auto" in err and not out.exists()


def test_telecined_film_comes_back_to_film_rate_unless_told_not_to(tapes, tmp_path, capsys):
    for flags, frames, fps in (((), 24, "24000/1001"), (("--ivtc", "off"), 60, "60000/1001")):
        project = tmp_path / f"film{len(flags)}.sdhd"
        code, _, err = sdhd(capsys, "new", tapes("film_mpg"), "-o", project, *flags)
        assert code == 0, err
        code, out, _ = sdhd(capsys, "info", project, "--json")
        source = json.loads(out.strip().splitlines()[-1])["source"]
        assert (source["frames"], source["fps"]) == (frames, fps)


def test_a_field_order_change_is_named_and_an_override_gets_past_it(tapes, tmp_path, capsys):
    project = tmp_path / "change.sdhd"
    code, _, err = sdhd(capsys, "new", tapes("order_change_mpg"), "-o", project)
    assert code == 1
    assert "field order changes partway" in err and "--field-order" in err
    assert len(err.strip().splitlines()) == 1 and not project.exists()
    code, _, err = sdhd(capsys, "new", tapes("order_change_mpg"), "-o", project,
                        "--field-order", "tff")  # fmt: skip
    assert code == 0, err


def test_changing_the_mode_keeps_keyframes_masks_and_cuts_at_their_times(tapes, tmp_path,
                                                                          capsys):
    project = tmp_path / "tape.sdhd"
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((576, 720), 255, np.uint8)).save(mask)
    assert sdhd(capsys, "new", tapes("pal_mpg"), "-o", project)[0] == 0  # 50 frames at 50 fps
    sdhd(capsys, "keyframe", "set", project, 20, "--set", "sharpen=0.5")
    sdhd(capsys, "keyframe", "set", project, 21, "--set", "sharpen=0.7")
    sdhd(capsys, "cut", "set", project, 30)
    assert sdhd(capsys, "mask", "set", project, 10, mask, "--until", 40)[0] == 0

    def state():
        info = json.loads(sdhd(capsys, "info", project, "--json")[1].strip().splitlines()[-1])
        return (info["source"]["frames"], [(k["frame"], k["settings"]) for k in info["keyframes"]],
                info["cuts"], [(m["frame"], m["end"]) for m in info["masks"]])

    before = state()
    code, out, err = sdhd(capsys, "source", project, "--deinterlace", "single")
    assert code == 0, err
    # 25 frames a second now: the two keyframes meet on frame 10 (the later one wins).
    assert state() == (25, [(10, {"sharpen": 0.7})], [15], [(5, 20)])
    assert sdhd(capsys, "source", project, "--deinterlace", "auto")[0] == 0
    frames, keyframes, cuts, masks = state()
    assert (frames, cuts, masks) == (before[0], before[2], before[3])
    assert keyframes == [(20, {"sharpen": 0.7})]


def test_field_matching_shows_its_progress_at_a_terminal(tapes, tmp_path):
    # A pseudo-terminal as stderr, as a person running `sdhd new` in a shell has.
    controller, terminal = pty.openpty()
    project = tmp_path / "film.sdhd"
    done = subprocess.run(
        [sys.executable, "-m", "sdhd_studio", "new", str(tapes("film_mpg")), "-o", str(project)],
        stdout=subprocess.DEVNULL, stderr=terminal, timeout=120,
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once everything written has been read
        while chunk := os.read(controller, 4096):
            shown += chunk
    os.close(controller)
    assert done.returncode == 0 and project.exists()
    pictures = FILM_FRAMES * 5 // 4  # the film's frames after 3:2 pulldown
    assert f"matching fields [{'#' * 30}] {pictures}/{pictures}".encode() in shown
