"""What a user trusts the tool with: their folders, their projects and their patience.

Each case is one a user or a hostile file met on the code before the trust work; each ends in
one clear line or the right result, and loses nothing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import clips
import pytest
from render_lock import hold_render_lock

from tests.cli.test_cli import fails, last_json, sdhd


@pytest.fixture
def tiny(tiny_clip, tmp_path, capsys):
    path = tmp_path / "tiny.sdhd"
    code, _, err = sdhd(capsys, "new", tiny_clip, "-o", path, "--height", 90)
    assert code == 0, err
    return path


def cli(*argv, **kwargs):
    """`sdhd` in its own process, as a second user at another terminal runs it."""
    return subprocess.Popen([sys.executable, "-m", "sdhd_studio.cli.main", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def project_json(path):
    return json.loads((path / "project.json").read_text())


# -- nothing of the user's is deleted or overwritten -----------------------------------------


def test_upscale_refuses_a_folder_that_is_not_a_project(tiny_clip, tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "f").write_text("x")
    fails(capsys, "upscale", tiny_clip, "-o", tmp_path / "o.mp4", "--project", folder,
          match="exists and is not an SDHD project")
    assert (folder / "f").read_text() == "x" and sorted(os.listdir(folder)) == ["f"]
    assert not (tmp_path / "o.mp4").exists()


def test_upscale_resumes_the_users_own_project_and_keeps_it(tiny_clip, tmp_path, capsys):
    project = tmp_path / "tape-hd.sdhd"
    sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 90)
    sdhd(capsys, "keyframe", "set", project, 5, "--set", "sharpen=0.5")
    sdhd(capsys, "render", project, "--frames", "0-9")
    code, _, err = sdhd(capsys, "upscale", tiny_clip, "-o", tmp_path / "tape-hd.mp4")
    assert code == 0, err
    assert f"resuming your project tape-hd.sdhd: 10 of {clips.TINY_FRAMES} frames done" in err
    assert [kf["frame"] for kf in project_json(project)["keyframes"]] == [5]
    assert (tmp_path / "tape-hd.mp4").stat().st_size > 0


def test_a_project_left_by_a_failed_upscale_is_resumed_only_with_its_options(
    tiny_clip, tmp_path, capsys
):
    out = tmp_path / "o.mp4"
    work = tmp_path / "o.sdhd"
    # The first upscale fails at the end (a folder stands where the video should go),
    # leaving its working project behind.
    out.mkdir()
    code, _, _ = sdhd(capsys, "upscale", tiny_clip, "-o", out, "--height", 90,
                      "--upscaler", "bicubic")
    assert code == 1 and (work / "upscale.json").exists()
    out.rmdir()
    fails(capsys, "upscale", tiny_clip, "-o", out, "--height", 90,
          match="was left by an earlier `sdhd upscale` with other options (--set upscaler: "
                "bicubic then, not given now)")
    assert (work / "upscale.json").exists() and not out.exists()
    code, _, err = sdhd(capsys, "upscale", tiny_clip, "-o", out, "--height", 90,
                        "--upscaler", "bicubic")
    assert code == 0, err
    assert "resuming o.sdhd" in err
    assert out.exists() and not work.exists()  # its own working folder, finished: removed


def test_upscale_into_an_empty_folder_of_the_users_keeps_the_folder(tiny_clip, tmp_path,
                                                                    capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    code, _, err = sdhd(capsys, "upscale", tiny_clip, "-o", tmp_path / "o.mp4", "--height", 90,
                        "--project", folder)
    assert code == 0, err
    assert folder.is_dir() and os.listdir(folder) == []


def test_upscale_refuses_an_output_it_cannot_write_before_making_a_project(tiny_clip,
                                                                            tmp_path, capsys):
    fails(capsys, "upscale", tiny_clip, "-o", tmp_path / "o.avi", match="cannot write .avi")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("inside", ["project.json", "cache/x.mp4", ""])
def test_export_never_writes_into_a_project_folder(tiny, capsys, inside):
    before = (tiny / "project.json").read_bytes()
    fails(capsys, "export", tiny, "-o", tiny / inside, match="is inside the project folder")
    assert (tiny / "project.json").read_bytes() == before


# -- projects are locked ---------------------------------------------------------------------


def test_parallel_edits_from_eight_processes_all_land(tiny):
    edits = [cli("keyframe", "set", tiny, frame, "--set", f"seed={frame}")
             for frame in range(0, 16, 2)]
    for edit in edits:
        assert edit.wait(timeout=120) == 0, edit.stderr.read()
    keyframes = {kf["frame"]: kf["settings"] for kf in project_json(tiny)["keyframes"]}
    assert keyframes == {frame: {"seed": frame} for frame in range(0, 16, 2)}


def test_a_second_render_waits_for_the_first_then_finds_nothing_to_do(tiny, capsys):
    holder = hold_render_lock(tiny, 2)
    fails(capsys, "render", tiny, "--no-wait", match="a render or export of tiny.sdhd is busy")
    second = cli("render", tiny, "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0 and "waiting for it to finish" in err
    holder.wait()
    code, out, _ = sdhd(capsys, "render", tiny, "--json")
    assert (code, last_json(out)["rendered"]) == (0, 0)


def test_a_cancelled_render_keeps_its_frames_and_says_how_to_resume(sample_clip, tmp_path,
                                                                   capsys):
    project = tmp_path / "s.sdhd"
    sdhd(capsys, "new", sample_clip, "-o", project, "--height", 1080)
    render = cli("render", project, "--workers", 1)
    log = project / "cache" / "rendered.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline and render.poll() is None
        time.sleep(0.05)
    render.send_signal(signal.SIGINT)
    _, err = render.communicate(timeout=120)
    assert render.returncode == 130
    assert f"run `sdhd render {project}` again to render the rest" in err
    code, out, _ = sdhd(capsys, "status", project, "--json")
    assert last_json(out)["counts"]["done"] >= 2


# -- values are validated where they enter ---------------------------------------------------


@pytest.mark.parametrize("value, match", [
    ("sharpen=nan", "sharpen must be a finite number"),
    ("sharpen=-inf", "sharpen must be a finite number"),
    ("model=/dev/zero", "is not a regular file or folder"),
    ("seed=1e40", "seed must be between"),
])
def test_bad_values_are_refused_when_set(tiny, capsys, value, match):
    before = (tiny / "project.json").read_bytes()
    fails(capsys, "keyframe", "set", tiny, 3, "--set", value, match=match)
    assert (tiny / "project.json").read_bytes() == before


def test_a_model_name_no_backend_knows_is_refused_when_set(tiny, capsys):
    fails(capsys, "keyframe", "set", tiny, 3, "--upscaler", "realesrgan", "--set",
          "model=realesrgan-x9000", match="unknown model 'realesrgan-x9000'")
    fails(capsys, "keyframe", "set", tiny, 3, "--upscaler", "diffusion", "--set",
          "model=nowhere", match="neither a diffusers model folder nor a hub id")


def test_a_crafted_project_is_refused_in_one_line_and_in_time(tiny, capsys):
    (tiny / "project.json.bak").unlink(missing_ok=True)
    data = project_json(tiny)
    data["keyframes"] = [{"frame": 10**12, "settings": {}, "interpolate": []}]
    (tiny / "project.json").write_text(json.dumps(data))
    started = time.monotonic()
    fails(capsys, "status", tiny, match="project.keyframes[0].frame must be an integer from 0 "
          f"to {clips.TINY_FRAMES - 1}")
    assert time.monotonic() - started < 30  # was: 75 MB/s, for ever

    data["keyframes"] = []
    data["defaults"]["sharpen"] = float("nan")
    (tiny / "project.json").write_text(json.dumps(data))
    fails(capsys, "status", tiny, match="sharpen must be a finite number")


def test_a_record_longer_than_the_file_is_refused(tiny, capsys):
    data = project_json(tiny)
    info = data["source"]["info"]
    info["frame_count"], info["duration"] = 10**7, 10**7 / 24
    (tiny / "project.json").write_text(json.dumps(data))
    fails(capsys, "status", tiny, match="the project file is damaged")


# -- nothing outside the project is read or written because of project.json -----------------


def test_a_mask_digest_cannot_name_a_file_outside_the_project(tiny, tmp_path, capsys):
    (tiny / "project.json.bak").unlink(missing_ok=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    data = project_json(tiny)
    data["masks"] = [{"frame": 1, "digest": "../../secret", "end": 2, "inpainter": None,
                      "track": False, "start": None}]
    (tiny / "project.json").write_text(json.dumps(data))
    fails(capsys, "render", tiny, match="a mask digest must be 64 hex digits")


def test_gc_does_not_follow_links_out_of_the_project(tiny, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    (outside / "ab").mkdir(parents=True)
    victim = outside / "ab" / ("c" * 62 + ".frame")
    victim.write_bytes(b"precious")
    (tiny / "cache" / "cd").symlink_to(outside / "ab")  # a shard that is a link
    code, _, err = sdhd(capsys, "gc", tiny)
    assert code == 0, err
    assert victim.read_bytes() == b"precious"

    cache = tiny / "cache"
    cache.rename(tiny / "cache-real")
    cache.symlink_to(outside)  # the whole cache is a link
    fails(capsys, "gc", tiny, match="gc deletes nothing through links")
    assert victim.read_bytes() == b"precious"


# -- honest messages -------------------------------------------------------------------------


def test_a_missing_model_is_not_offered_a_quick_preview_as_the_fix(tiny, tmp_path, capsys):
    sdhd(capsys, "keyframe", "set", tiny, 0, "--upscaler", "diffusion", "--set",
         "model=someone/no-such-model")
    line = fails(capsys, "export", tiny, "-o", tmp_path / "o.mp4", match="cannot run here")
    assert "--allow-preview" not in line


def test_frames_can_be_given_as_times(tiny, capsys):
    code, out, err = sdhd(capsys, "keyframe", "set", tiny, "0.5s", "--set", "seed=3", "--json")
    assert (code, last_json(out)) == (0, {"keyframe": 12}), err
    code, out, _ = sdhd(capsys, "render", tiny, "--frames", "00:00.50-00:00.54", "--json")
    assert last_json(out)["rendered"] == 2  # frames 12 and 13


def test_help_lists_the_upscalers(capsys):
    with pytest.raises(SystemExit):
        sdhd(capsys, "upscale", "--help")
    out = capsys.readouterr().out
    assert "lanczos" in out and "realesrgan" in out


def test_backends_is_a_table(capsys):
    code, out, _ = sdhd(capsys, "backends")
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("KIND"))
    column = header.index("NAME")
    rows = [line for line in lines if line.startswith(("upscaler", "inpainter", "interpolator"))]
    assert {row[column:].split()[0] for row in rows} >= {"lanczos", "telea", "dis"}


def test_upscale_with_a_backend_that_cannot_run_makes_no_project(tiny_clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    fails(capsys, "upscale", tiny_clip, "-o", out, "--upscaler", "model",
          match="model cannot run here: needs a model file")
    assert not (tmp_path / "o.sdhd").exists() and not out.exists()
