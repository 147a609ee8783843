import pytest

from sdhd_studio.core.errors import SettingError
from sdhd_studio.core.settings import DEFAULTS, parse_assignment, validate


def test_assignment_is_typed_by_the_setting():
    assert parse_assignment("seed=42") == ("seed", 42)
    assert parse_assignment("strength=0.25") == ("strength", 0.25)
    assert parse_assignment("negative-prompt=blurry, noisy") == ("negative_prompt", "blurry, noisy")


@pytest.mark.parametrize(
    "text, message",
    [
        ("seed", "expected KEY=VALUE"),
        ("colour=red", "unknown setting 'colour'"),
        ("steps=many", "steps must be an integer"),
        ("steps=2.5", "steps must be an integer"),
        ("strength=1.5", "strength must be between 0 and 1"),
    ],
)
def test_bad_assignments_say_what_is_wrong(text, message):
    with pytest.raises(SettingError, match=message):
        parse_assignment(text)


def test_defaults_are_valid_values():
    assert validate(DEFAULTS) == DEFAULTS
