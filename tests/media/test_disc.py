"""A DVD's title read as one source: a VIDEO_TS folder or its first VOB, pieces joined."""

import numpy as np
import pytest
import source_clips

from sdhd_studio.core.errors import MediaError
from sdhd_studio.media import disc
from sdhd_studio.media.fingerprint import fingerprint
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader


@pytest.fixture(scope="module")
def dvd(tapes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dvd")
    whole = source_clips.make_dvd(tapes.truth("pal_mpg"), folder)
    return folder / "DVD", whole


def test_title_from_folder_or_first_vob_is_the_whole_stream(dvd):
    root, whole = dvd
    first = root / "VIDEO_TS" / "VTS_01_1.VOB"
    assert disc.parts(str(root)) == [str(root / "VIDEO_TS" / f"VTS_01_{n}.VOB") for n in (1, 2, 3)]
    assert disc.parts(str(first)) == disc.parts(str(root / "VIDEO_TS"))
    reference = source_clips.decoded(whole)
    for source in (root, first):
        info = probe(str(source))
        assert info.frame_count == len(reference) == 25
        assert len(info.audio) == 1
        with FrameReader(str(source), cache_size=1) as reader:
            for index in [24, 0, 13, 5, 20, 8, 0]:
                assert np.array_equal(reader.read(index), reference[index]), index
    assert fingerprint(str(root)).size == whole.stat().st_size


def test_a_disc_mounted_with_lower_case_names_is_found(dvd, tmp_path):
    # Linux mounts a DVD's ISO 9660 names in lower case: video_ts/vts_01_1.vob.
    root, _ = dvd
    low = tmp_path / "disc" / "video_ts"
    low.mkdir(parents=True)
    for file in (root / "VIDEO_TS").iterdir():
        (low / file.name.lower()).symlink_to(file)
    assert disc.parts(str(tmp_path / "disc")) == [str(low / f"vts_01_{n}.vob") for n in (1, 2, 3)]
    assert probe(str(tmp_path / "disc")).frame_count == 25


def test_a_folder_without_a_title_is_refused(tmp_path):
    (tmp_path / "VIDEO_TS").mkdir()
    with pytest.raises(MediaError, match="without a DVD video title"):
        probe(str(tmp_path))


def test_a_title_with_a_part_missing_is_refused(dvd, tmp_path):
    # Joined across the gap, the stream would jump and break mid-GOP.
    root, _ = dvd
    copy = tmp_path / "VIDEO_TS"
    copy.mkdir()
    for n in (1, 3):
        (copy / f"VTS_01_{n}.VOB").symlink_to(root / "VIDEO_TS" / f"VTS_01_{n}.VOB")
    with pytest.raises(MediaError, match="the title VTS_01 lacks its part VTS_01_2.VOB"):
        probe(str(tmp_path))
