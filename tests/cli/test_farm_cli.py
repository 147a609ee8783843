"""`--ray` and `--cache` on render, export and upscale, as a user types them."""

import json
import subprocess
import sys

import clips

from sdhd_studio.cli.main import main
from sdhd_studio.media.probe import probe
from sdhd_studio.render.cache import FrameCache


def sdhd(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_upscale_on_a_farm_with_the_cache_elsewhere(ray_cluster, tiny_clip, tmp_path):
    out, cache = tmp_path / "hd.mp4", tmp_path / "shared" / "cache"
    run = subprocess.run(
        [sys.executable, "-m", "sdhd_studio", "upscale", tiny_clip, "-o", out, "--height", "180",
         "--ray", ray_cluster, "--cache", cache, "--keep-project", "--json"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "farm: 4 workers on 1 machines" in run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert (result["frames"], result["rendered"]) == (clips.TINY_FRAMES, clips.TINY_FRAMES)
    assert probe(out).frame_count == clips.TINY_FRAMES
    assert len(FrameCache(cache).keys()) == clips.TINY_FRAMES
    assert not FrameCache(tmp_path / "hd.sdhd" / "cache").keys()


def test_the_cache_flag_is_where_later_commands_find_the_frames(tiny_clip, tmp_path, capsys):
    project, cache = tmp_path / "t.sdhd", tmp_path / "elsewhere"
    assert sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 180)[0] == 0
    code, stdout, _ = sdhd(capsys, "render", project, "--cache", cache, "--json")
    assert code == 0 and json.loads(stdout)["rendered"] == clips.TINY_FRAMES
    code, stdout, _ = sdhd(capsys, "render", project, "--cache", cache, "--json")
    assert json.loads(stdout)["rendered"] == 0
    code, stdout, _ = sdhd(capsys, "status", project, "--cache", cache, "--json")
    assert json.loads(stdout)["counts"]["done"] == clips.TINY_FRAMES
    code, stdout, _ = sdhd(capsys, "status", project, "--json")
    assert json.loads(stdout)["counts"]["empty"] == clips.TINY_FRAMES
    code, stdout, _ = sdhd(capsys, "export", project, "-o", tmp_path / "a.mp4", "--cache", cache,
                           "--json")
    assert code == 0 and json.loads(stdout.strip().splitlines()[-1])["rendered"] == 0


def test_a_bad_local_farm_size_is_one_line_and_renders_nothing(tiny_clip, tmp_path, capsys):
    project = tmp_path / "t.sdhd"
    assert sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 180)[0] == 0
    code, stdout, err = sdhd(capsys, "render", project, "--ray", "local:none")
    assert code == 1 and stdout == ""
    assert err == "sdhd: error: --ray local:N needs a number of workers of at least 1, got 'none'\n"
    assert not FrameCache(project / "cache").keys()


def test_without_ray_the_flag_says_how_to_get_it(tiny_clip, tmp_path, capsys):
    project = tmp_path / "t.sdhd"
    assert sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 180)[0] == 0
    code = ("import sys; sys.modules['ray'] = None  # as if Ray were not installed\n"
            "from sdhd_studio.cli.main import main\n"
            "raise SystemExit(main(sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", code, "render", str(project), "--ray", "local:2"],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr == ('sdhd: error: rendering on a farm needs Ray: '
                          'pip install "sdhd-studio[farm]"\n')
    assert not FrameCache(project / "cache").keys()
