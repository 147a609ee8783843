from fractions import Fraction

import pytest

from sdhd_studio.core.timecode import clock, frame_time, parse_frame


def test_clock():
    assert clock(62.4) == "01:02"
    assert clock(3725, hours=True) == "1:02:05"
    assert clock(3725) == "1:02:05"
    assert clock(1.24, hundredths=True) == "00:01.24"


def test_a_frame_time_never_rounds_up_into_the_next_frame():
    ntsc = Fraction(30000, 1001)
    assert frame_time(37, ntsc) == "00:01.23"  # 1.2345 s
    assert frame_time(29, ntsc) == "00:00.96"  # 0.9676 s: rounding would say .97
    assert frame_time(25 * 3600, Fraction(25)) == "1:00:00.00"
    assert frame_time(5, Fraction(25), hours=True) == "0:00:00.20"


@pytest.mark.parametrize("text, frame", [
    ("1563", 1563), ("62.5s", 1563), ("62.48s", 1562), ("1:02.48", 1562),
    ("00:01:02.48", 1562), ("0:01:02:12", 1562), ("0s", 0),
])
def test_frames_are_typed_as_numbers_seconds_or_times(text, frame):
    assert parse_frame(text, Fraction(25), 100_000) == frame


def test_the_time_shown_for_a_frame_names_that_frame_again():
    fps = Fraction(30000, 1001)
    for index in range(0, 200_000, 997):
        assert parse_frame(frame_time(index, fps, hours=True), fps, 10**6) == index


@pytest.mark.parametrize("text", ["abc", "1:60.0", "-1s", "1e3s", "nan", "", "1:2:3:4:5",
                                  "0:00:01:25", "250", "10s"])
def test_what_is_not_a_frame_of_the_video_is_refused(text):
    with pytest.raises(ValueError, match=r"not a frame|the video has 250 frames \(0-249\)"):
        parse_frame(text, Fraction(25), 250)
