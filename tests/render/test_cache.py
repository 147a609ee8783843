import os

import numpy as np
import pytest

from sdhd_studio.render.cache import FrameCache


def frame(value, shape=(36, 64, 3)):
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_frames_come_back_bit_exact(tmp_path):
    cache = FrameCache(tmp_path)
    image = frame(1)
    cache.put("ab" * 32, image)
    assert "ab" * 32 in cache
    np.testing.assert_array_equal(cache.get("ab" * 32), image)
    assert cache.keys() == {"ab" * 32}
    with pytest.raises(KeyError):
        cache.get("cd" * 32)


def test_no_temp_files_are_left_and_half_written_files_are_not_entries(tmp_path):
    cache = FrameCache(tmp_path)
    cache.put("ab" * 32, frame(1))
    # What a process killed mid-write leaves behind: a temp file, never a real entry.
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / (".cd" * 21 + ".frame.123.tmp")).write_bytes(b"SDHDFRM1 partial")
    assert cache.keys() == {"ab" * 32}
    assert not [p for p in (tmp_path / "ab").iterdir() if p.name.startswith(".")]


def test_damaged_entry_counts_as_missing_and_is_removed(tmp_path):
    cache = FrameCache(tmp_path)
    cache.put("ab" * 32, frame(1))
    cache.path("ab" * 32).write_bytes(b"")
    with pytest.raises(KeyError):
        cache.get("ab" * 32)
    assert "ab" * 32 not in cache


def test_gc_keeps_only_referenced_entries(tmp_path):
    cache = FrameCache(tmp_path)
    for i in range(4):
        cache.put(f"{i:02d}" * 32, frame(i))
    count, size = cache.size()
    assert count == 4 and size > 0
    removed, freed = cache.gc({"00" * 32, "01" * 32})
    assert removed == 2 and 0 < freed < size
    assert cache.keys() == {"00" * 32, "01" * 32}


def test_rendered_log_survives_a_torn_last_line(tmp_path):
    cache = FrameCache(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    cache.mark_rendered(3)
    cache.mark_rendered(10)
    with open(tmp_path / "rendered.log", "a") as fh:
        fh.write("12")  # killed before the newline
    assert cache.rendered_frames() == {3, 10}


def test_failures_are_kept_by_key(tmp_path):
    cache = FrameCache(tmp_path)
    assert cache.failures() == {}
    cache.set_failures({"k": "bad packet"})
    assert cache.failures() == {"k": "bad packet"}


def test_a_copy_links_the_frames_and_copies_the_log(tmp_path):
    cache = FrameCache(tmp_path / "a")
    cache.put("ab" * 32, frame(3))
    cache.mark_rendered(0)
    copy = cache.copy_to(tmp_path / "b")
    np.testing.assert_array_equal(copy.get("ab" * 32), frame(3))
    assert os.path.samefile(copy.path("ab" * 32), cache.path("ab" * 32))
    # The append-only log is copied, so the copy's renders do not show up in the original.
    copy.mark_rendered(7)
    assert cache.rendered_frames() == {0} and copy.rendered_frames() == {0, 7}


def test_damaged_bookkeeping_is_ignored_not_fatal(tmp_path):
    cache = FrameCache(tmp_path)
    (tmp_path / "rendered.log").write_bytes(b"1\n2\n\xff\xfe\n\xd9\xa3\n99999999999999999\n3")
    (tmp_path / "failures.json").write_text('[1, 2]')
    assert cache.rendered_frames() == {1, 2}
    assert cache.failures() == {}
    (tmp_path / "failures.json").write_text('{"k": "bad", "j": 3}')
    assert cache.failures() == {"k": "bad"}


def test_sizes_are_the_entries_file_sizes(tmp_path):
    cache = FrameCache(tmp_path / "c")
    assert cache.sizes() == {}
    keys = [f"{i:02x}" * 32 for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, frame(i))
    assert cache.sizes() == {key: os.path.getsize(cache.path(key)) for key in keys}
    assert set(cache.sizes()) == cache.keys()
