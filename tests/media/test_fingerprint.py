"""Fingerprints recognise content: touched and moved files keep it, edited files do not."""

import os
import shutil

import numpy as np
import pytest

from sdhd_studio.core.errors import MediaError, SourceChangedError
from sdhd_studio.core.source import Source
from sdhd_studio.media.fingerprint import CHUNK, check_source, fingerprint
from sdhd_studio.media.probe import probe


@pytest.fixture
def source(sample_clip, tmp_path):
    path = str(tmp_path / "video.mp4")
    shutil.copy(sample_clip, path)
    return Source(path=path, fingerprint=fingerprint(path), info=probe(path))


def _flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_same_content_same_fingerprint_wherever_it_lives(source, tmp_path):
    copy = tmp_path / "copy.mp4"
    shutil.copy(source.path, copy)
    assert fingerprint(str(copy)).digest == source.fingerprint.digest
    moved = check_source(source, str(copy))
    assert moved.path == str(copy) and moved.fingerprint.digest == source.fingerprint.digest


def test_unchanged_source_is_returned_as_is(source):
    assert check_source(source) is source


def test_touched_file_keeps_its_identity_with_the_new_mtime(source):
    stat = os.stat(source.path)
    os.utime(source.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    checked = check_source(source)
    assert checked.fingerprint.digest == source.fingerprint.digest
    assert checked.fingerprint.mtime_ns == stat.st_mtime_ns + 5_000_000_000


@pytest.fixture
def big_source(source, tmp_path):
    """A 3 MiB file: large enough that only sampled chunks are hashed."""
    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(3).bytes(3 * 1024 * 1024))
    return Source(path=str(path), fingerprint=fingerprint(str(path)), info=source.info)


def test_edit_inside_a_sampled_chunk_is_detected(big_source):
    size = big_source.fingerprint.size
    fourth_middle_chunk = (size - CHUNK) * 4 // 9
    _flip_byte(big_source.path, fourth_middle_chunk + CHUNK // 2)
    with pytest.raises(SourceChangedError, match="was replaced by different content"):
        check_source(big_source)


def test_edit_between_sampled_chunks_is_an_accepted_blind_spot(big_source):
    _flip_byte(big_source.path, CHUNK + 10)  # after the head chunk, before the first middle one
    assert check_source(big_source).fingerprint.digest == big_source.fingerprint.digest


def test_size_change_is_detected(source):
    with open(source.path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(SourceChangedError):
        check_source(source)


def test_missing_source_asks_to_locate_it(source, tmp_path):
    os.remove(source.path)
    with pytest.raises(MediaError, match="missing; locate it"):
        check_source(source)
    with pytest.raises(MediaError, match="does not exist"):
        check_source(source, str(tmp_path / "elsewhere.mp4"))


def test_relocating_to_different_content_is_refused(source, tiny_clip):
    with pytest.raises(SourceChangedError):
        check_source(source, tiny_clip)


def test_small_files_are_hashed_whole(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(b"a" * 1000)
    first = fingerprint(str(path))
    path.write_bytes(b"a" * 500 + b"b" + b"a" * 499)
    assert fingerprint(str(path)).digest != first.digest and first.size == 1000
