from fractions import Fraction

import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.errors import ProjectError
from sdhd_studio.core.timing import output_positions

from .conftest import make_source


def positions(frames, **output):
    return output_positions(edits.set_output(edits.new_project(make_source(frames)), **output))


def test_without_conversion_every_source_frame_is_shown_once():
    assert positions(5) == [(i, 0) for i in range(5)]


def test_doubling_puts_a_half_way_frame_after_each_and_holds_the_last():
    out = positions(4, fps_multiplier=2)
    half = Fraction(1, 2)
    assert out == [(0, 0), (0, half), (1, 0), (1, half), (2, 0), (2, half), (3, 0), (3, 0)]


def test_a_target_rate_keeps_the_duration():
    out = positions(25, target_fps=Fraction(60))  # 25 fps source: one second
    assert len(out) == 60
    assert out[0] == (0, 0) and out[12] == (5, 0)  # 12/60 s is source frame 5 exactly
    assert out[1] == (0, Fraction(5, 12))
    assert all(0 <= t < 1 for _, t in out)


def test_a_lower_target_rate_drops_frames():
    out = positions(50, target_fps=Fraction(5))  # 25 fps source: every fifth frame
    assert out == [(i, 0) for i in range(0, 50, 5)]


def test_multiplier_and_target_rate_replace_each_other():
    project = edits.new_project(make_source(10))
    project = edits.set_output(project, target_fps=Fraction(50))
    project = edits.set_output(project, fps_multiplier=3)
    assert project.output.target_fps is None and project.output.fps_multiplier == 3
    with pytest.raises(ProjectError, match="target fps must be 1-240"):
        edits.set_output(project, target_fps=Fraction(1000))
