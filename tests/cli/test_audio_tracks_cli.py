"""Choosing which of the source's audio tracks goes into the HD output (`--audio-track`)."""

import json

import clips
import pytest

from sdhd_studio.media.probe import probe
from tests.cli.test_cli import fails, sdhd


def upscale(capsys, source, out, *options):
    code, _, err = sdhd(capsys, "upscale", source, "-o", out, "--height", 192,
                        "--preset", "ultrafast", *options)
    assert code == 0, err


def check_sound(path, hz):
    """The output's audio is the `hz` tone and lasts as long as its video, to a frame."""
    info = probe(str(path))
    assert len(info.audio) == 1
    assert clips.dominant_frequency(path) == pytest.approx(hz, abs=5)
    assert clips.audio_duration(path) == pytest.approx(info.frame_count / info.fps,
                                                       abs=float(1 / info.fps))


def test_info_lists_every_track_with_its_language(two_tracks_clip, tmp_path, capsys):
    project = tmp_path / "p.sdhd"
    code, _, err = sdhd(capsys, "new", two_tracks_clip, "-o", project, "--audio-track", 2)
    assert code == 0, err
    code, out, _ = sdhd(capsys, "info", project)
    codec = "mp2" if two_tracks_clip.endswith(".mpg") else "aac"
    language = ", fra" if two_tracks_clip.endswith(".mp4") else ""
    assert f"audio 1: {codec}, 48000 Hz, 1 ch\n" in out
    assert f"audio 2: {codec}, 48000 Hz, 1 ch{language}\n" in out
    assert "audio 2\n" in out.split("output", 1)[1].splitlines(keepends=True)[0]
    code, out, _ = sdhd(capsys, "info", project, "--json")
    info = json.loads(out)
    assert [a["language"] for a in info["source"]["audio"]] == [None, language[2:] or None]
    assert info["output"]["audio_track"] == 2


def test_upscale_takes_the_track_asked_for_and_the_first_by_default(two_tracks_clip, tmp_path,
                                                                    capsys):
    upscale(capsys, two_tracks_clip, tmp_path / "second.mp4", "--audio-track", 2)
    check_sound(tmp_path / "second.mp4", clips.TWO_TRACKS[1])
    upscale(capsys, two_tracks_clip, tmp_path / "first.mp4")
    check_sound(tmp_path / "first.mp4", clips.TWO_TRACKS[0])


def test_a_track_the_source_lacks_is_refused_and_nothing_is_written(two_tracks_clip, tmp_path,
                                                                    capsys):
    name = two_tracks_clip.rsplit("/", 1)[1]
    out = tmp_path / "hd.mp4"
    message = f"{name} has 2 audio tracks; --audio-track 3 names none"
    fails(capsys, "upscale", two_tracks_clip, "-o", out, "--audio-track", 3, match=message)
    fails(capsys, "new", two_tracks_clip, "-o", tmp_path / "p.sdhd", "--audio-track", 3,
          match=message)
    assert list(tmp_path.iterdir()) == []
    fails(capsys, "new", two_tracks_clip, "--audio-track", 65, match="audio track must be 1-64")
    code, _, err = sdhd(capsys, "new", two_tracks_clip, "-o", tmp_path / "p.sdhd")
    assert code == 0, err
    fails(capsys, "export", tmp_path / "p.sdhd", "-o", out, "--audio-track", 3, match=message)
    assert not out.exists()


def test_export_can_take_another_track_than_the_projects(two_tracks_clip, tmp_path, capsys):
    project = tmp_path / "p.sdhd"
    code, _, err = sdhd(capsys, "new", two_tracks_clip, "-o", project, "--height", 192)
    assert code == 0, err
    code, _, err = sdhd(capsys, "export", project, "-o", tmp_path / "hd.mkv", "--audio-track", 2,
                        "--allow-preview", "--preset", "ultrafast")
    assert code == 0, err
    check_sound(tmp_path / "hd.mkv", clips.TWO_TRACKS[1])


def test_a_resumed_upscale_with_another_track_is_refused(two_tracks_clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    work = tmp_path / "o.sdhd"
    # The first upscale fails at the end (a folder stands where the video should go),
    # leaving its working project behind.
    out.mkdir()
    code, _, _ = sdhd(capsys, "upscale", two_tracks_clip, "-o", out, "--height", 192,
                      "--audio-track", 2)
    assert code == 1 and (work / "upscale.json").exists()
    out.rmdir()
    fails(capsys, "upscale", two_tracks_clip, "-o", out, "--height", 192,
          match="with other options (--audio-track: 2 then, not given now)")
    assert not out.exists()
    upscale(capsys, two_tracks_clip, out, "--audio-track", 2)
    check_sound(out, clips.TWO_TRACKS[1])
