"""Source analysis: scan type and field order from the pictures, colour from tags or size."""

import dataclasses

import pytest

from sdhd_studio.media.analysis import analyse
from sdhd_studio.media.probe import probe


@pytest.mark.parametrize(
    ("name", "scan", "order"),
    [
        ("pal_mpg", "interlaced", "tff"),
        ("dv_avi", "interlaced", "bff"),
        ("h264_ts", "interlaced", "tff"),
        ("film_mpg", "telecined", "tff"),
    ],
)
def test_scan_type_and_field_order_from_the_pictures(tapes, name, scan, order):
    path = tapes(name)
    found = analyse(path, probe(path))
    assert (found.scan, found.field_order) == (scan, order)
    assert found.cadence == ("3:2" if scan == "telecined" else "")
    if scan == "interlaced":
        assert found.comb > 0.3  # combed in moving frames


def test_progressive_truth_is_progressive(tapes):
    path = str(tapes.truth("pal"))
    found = analyse(path, probe(path))
    assert (found.scan, found.field_order) == ("progressive", "progressive")
    assert found.comb < -0.5


def test_field_order_comes_from_the_pictures_not_the_flags(tapes, tmp_path):
    # The DV file says nothing about its field order; the pictures say bottom first.
    path = tapes("dv_raw")
    found = analyse(path, probe(path))
    assert found.flagged_order == "unknown" and found.field_order == "bff"


def test_colour_standard_assumption_and_tags(tapes, sample_clip):
    pal = analyse(tapes("pal_mpg"), probe(tapes("pal_mpg")))
    assert (pal.matrix, pal.primaries, pal.full_range, pal.colour_tagged) == (
        "bt601", "bt470bg", False, False,
    )
    ntsc = analyse(tapes("dv_avi"), probe(tapes("dv_avi")))
    assert (ntsc.matrix, ntsc.primaries) == ("bt601", "smpte170m")
    mjpeg = analyse(tapes("mjpeg_avi"), probe(tapes("mjpeg_avi")))
    assert mjpeg.full_range and mjpeg.matrix == "bt601"
    # An untagged HD source is BT.709.
    info = dataclasses.replace(probe(sample_clip), width=1920, height=1080)
    assert analyse(sample_clip, info).matrix == "bt709"
