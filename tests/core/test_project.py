from fractions import Fraction

import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.errors import ProjectError, SettingError
from sdhd_studio.core.project import OutputSettings, SettingSource

from .conftest import make_source


def test_keyframe_settings_hold_until_the_next_keyframe(project):
    project = edits.set_keyframe(project, 10, {"upscaler": "bicubic", "seed": 5})
    project = edits.set_keyframe(project, 20, {"seed": 9})
    assert project.settings_at(9)["upscaler"] == "lanczos"
    assert project.settings_at(10)["upscaler"] == "bicubic"
    # A keyframe that only sets the seed keeps the upscaler chosen earlier.
    assert project.settings_at(25) | {} == {**project.settings_at(10), "seed": 9}
    assert project.keyframe_before(15).frame == 10
    assert project.keyframe_before(5) is None


def test_marked_numeric_settings_ramp_linearly_between_keyframes(project):
    project = edits.set_keyframe(project, 10, {"strength": 0.2, "steps": 10}, ["strength", "steps"])
    project = edits.set_keyframe(project, 20, {"strength": 0.6, "steps": 30})
    assert project.settings_at(10)["strength"] == pytest.approx(0.2)
    assert project.settings_at(15)["strength"] == pytest.approx(0.4)
    assert project.settings_at(15)["steps"] == 20
    assert project.settings_at(16)["steps"] == 22
    assert project.settings_at(20)["strength"] == pytest.approx(0.6)
    assert project.settings_at(50)["strength"] == pytest.approx(0.6)


def test_runs_cover_every_frame_once(project):
    project = edits.set_keyframe(project, 10, {"strength": 0.2}, ["strength"])
    project = edits.set_keyframe(project, 14, {"strength": 0.6})
    covered = [i for start, stop, _ in project.settings_runs() for i in range(start, stop)]
    assert covered == list(range(project.frame_count))
    # Constant stretches are one run each; the ramp is one run per frame.
    assert len(list(project.settings_runs())) == 1 + 4 + 1


def test_output_size_uses_square_pixels_and_even_sides():
    assert OutputSettings(height=720).frame_size(make_source().info) == (1280, 720)
    assert OutputSettings(height=None, scale=2).frame_size(make_source().info) == (1280, 720)
    # NTSC DV: 720x480 with 10:11 pixels is a 4:3 picture -> 960x720 on a square-pixel screen.
    dv = make_source(width=720, height=480, sar=Fraction(8, 9)).info
    assert OutputSettings(height=720).frame_size(dv) == (960, 720)
    odd = make_source(width=161, height=91).info
    w, h = OutputSettings(height=None, scale=2).frame_size(odd)
    assert (w % 2, h % 2) == (0, 0) and abs(w / h - 161 / 91) < 0.02


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"crf": 60}, "CRF must be 0-51"),
        ({"preset": "warp"}, "unknown preset"),
        ({"fps_multiplier": 5}, "fps multiplier must be"),
        ({"height": 4}, "output height must be"),
        ({"audio_track": 0}, "audio track must be 1-64, got 0"),
        ({"audio_track": 65}, "audio track must be 1-64, got 65"),
        ({"audio_track": 2}, "tape.mp4 has 1 audio track; --audio-track 2 names none"),
    ],
)
def test_bad_output_settings_are_refused(project, changes, message):
    with pytest.raises(ProjectError, match=message):
        edits.set_output(project, **changes)


def test_masks_cover_their_range_and_later_masks_win(project):
    m1, m2 = "1" * 64, "2" * 64
    project = edits.set_mask(project, 10, m1, 30)
    project = edits.set_mask(project, 20, m2, 25)
    assert project.mask_at(9) is None
    assert project.mask_at(10).digest == m1
    assert project.mask_at(22).digest == m2
    assert project.mask_at(26).digest == m1
    assert project.mask_at(31) is None


def test_frames_out_of_range_are_refused_with_the_valid_range(project):
    with pytest.raises(ProjectError, match=r"frame 100 is out of range.*\(0-99\)"):
        edits.set_keyframe(project, 100, {"seed": 1})
    with pytest.raises(ProjectError, match="cannot end earlier"):
        edits.set_mask(project, 10, "3" * 64, 5)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "A" * 64, "0" * 63, 7])
def test_a_mask_digest_that_could_name_another_file_is_refused(project, digest):
    with pytest.raises(ProjectError, match="mask digest must be 64 hex digits"):
        edits.set_mask(project, 10, digest, 12)


def test_a_ramp_can_be_switched_on_and_off(project):
    project = edits.set_keyframe(project, 0, {"sharpen": 0.0})
    project = edits.set_keyframe(project, 10, {"sharpen": 1.0})
    ramped = edits.set_ramp(project, 0, "sharpen", True)
    assert ramped.settings_at(5)["sharpen"] == 0.5
    assert edits.set_ramp(ramped, 0, "sharpen", False).settings_at(5)["sharpen"] == 0.0
    with pytest.raises(SettingError, match="numeric"):
        edits.set_ramp(project, 0, "prompt", True)


def test_settings_at_one_frame_follow_the_same_rules_as_the_runs(project):
    project = edits.set_keyframe(project, 0, {"noise_level": 10, "sharpen": 0.5}, ["noise_level"])
    project = edits.set_keyframe(project, 8, {"guidance": 2.0}, ["guidance"])
    project = edits.set_keyframe(project, 12, {"noise_level": 101})
    project = edits.set_keyframe(project, 20, {"guidance": 3.5, "strength": 1.0})
    from_runs = {}
    for start, stop, values in project.settings_runs():
        for index in range(start, stop):
            from_runs[index] = dict(values)
    for index in range(project.frame_count):
        assert project.settings_at(index) == from_runs[index], index
    _, sources = project.resolve(10)
    assert sources["noise_level"] == SettingSource(0, 12, 12)
    assert sources["guidance"] == SettingSource(8, 20, 20)
    assert sources["seed"] == SettingSource(None, None, None)


def test_settings_at_refuses_a_frame_out_of_range(project):
    with pytest.raises(ProjectError, match="out of range"):
        project.settings_at(project.frame_count)
