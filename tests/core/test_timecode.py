from fractions import Fraction

from sdhd_studio.core.timecode import clock, frame_time


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
