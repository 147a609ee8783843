"""Disc, tape and broadcast containers read frame-accurately: every picture, in order, the same
pixels however it is reached (sequentially, by seek, after a seek that lands late)."""

import dataclasses
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import source_clips

from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader

# name: (frames, rate)
EXPECTED = {
    "pal_mkv": (25, 25),
    "pal_mpg": (25, 25),
    "pal_vob": (25, 25),
    "pal_ts": (25, 25),
    "pal_m2ts": (25, 25),
    "dv_avi": (30, (30000, 1001)),
    "dv_mov": (30, (30000, 1001)),
    "dv_raw": (30, (30000, 1001)),
    "mpeg4_avi": (25, 25),
    "mpeg4_interlaced_avi": (25, 25),
    "mjpeg_avi": (25, 25),
    "h264_ts": (25, 25),
    "film_mpg": (30, (30000, 1001)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_picture_the_same_however_reached(tapes, name):
    path = tapes(name)
    frames, rate = EXPECTED[name]
    info = probe(path)
    assert info.frame_count == frames
    assert info.fps == (rate if isinstance(rate, int) else Fraction(*rate))
    truth = source_clips.decoded(path)
    assert len(truth) == frames
    with FrameReader(path) as reader:
        sequential = [frame for _, frame in reader.frames()]
    assert all(np.array_equal(a, b) for a, b in zip(sequential, truth, strict=True))
    # The last frame and the first straight after opening, then random jumps both ways.
    order = [frames - 1, 0, *random.Random(3).sample(range(frames), frames), 0, frames - 1]
    with FrameReader(path, cache_size=1) as reader:
        for index in order:
            assert np.array_equal(reader.read(index), truth[index]), index


def test_a_file_cut_off_mid_gop_keeps_every_whole_picture(tapes, tmp_path, caplog):
    whole = Path(tapes("pal_mpg")).read_bytes()
    cut = tmp_path / "cut.mpg"
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    info = probe(str(cut))
    assert "(cut off?)" in caplog.text
    assert not info.vfr and info.fps == 25
    truth = source_clips.decoded(tapes("pal_mpg"))
    with FrameReader(str(cut)) as reader:
        frames = [frame for _, frame in reader.frames()]
        assert 10 < len(frames) < 25
        assert all(np.array_equal(a, b) for a, b in zip(frames, truth, strict=False))
        assert np.array_equal(reader.read(len(frames) - 1), truth[len(frames) - 1])


@pytest.mark.parametrize("name", ["pal_mpg", "pal_ts"])
def test_a_stream_cut_at_any_byte_reads_to_its_last_whole_picture(tapes, tmp_path, name):
    # Program and transport streams hand a cut-off last picture over unflagged.
    whole = Path(tapes(name)).read_bytes()
    truth = source_clips.decoded(tapes(name))
    for n, share in enumerate((0.37, 0.52, 0.66, 0.81)):
        cut = tmp_path / f"cut{n}{Path(tapes(name)).suffix}"
        cut.write_bytes(whole[: int(len(whole) * share) + 7])
        with FrameReader(str(cut)) as reader:
            frames = [frame for _, frame in reader.frames()]
        assert len(frames) > 25 * share - 5
        assert all(np.array_equal(a, b) for a, b in zip(frames, truth, strict=False)), share


@pytest.mark.parametrize("name", ["pal_ts", "pal_vob"])
def test_a_recording_that_starts_mid_gop_is_read_from_its_first_keyframe(tapes, tmp_path,
                                                                        caplog, name):
    # A broadcast recording (or a DVD title's second VOB) starts at any packet: its first
    # pictures lack their references. Cut at a packet boundary 0.3 s into the stream.
    whole = Path(tapes(name)).read_bytes()
    packet = 188 if name == "pal_ts" else 2048
    cut = tmp_path / f"cut{Path(tapes(name)).suffix}"
    cut.write_bytes(whole[len(whole) * 3 // 10 // packet * packet :])
    info, original = probe(str(cut)), probe(tapes(name))
    assert "starts in the middle of a group of pictures" in caplog.text
    skipped = round((info.start_time - original.start_time) * 25)
    assert skipped > 5 and info.frame_count == 25 - skipped
    truth = source_clips.decoded(tapes(name))[skipped:]
    order = [info.frame_count - 1, 0, *random.Random(5).sample(range(info.frame_count), 8), 0]
    with FrameReader(str(cut), cache_size=1) as reader:
        for index in order:
            assert np.array_equal(reader.read(index), truth[index]), index


@pytest.mark.parametrize("name", ["dv_avi", "mjpeg_avi"])
def test_a_tape_cut_off_inside_a_picture_keeps_every_whole_picture(tapes, tmp_path, caplog,
                                                                   name):
    # Intra-only AVI cut at an arbitrary byte: the last picture is only partly there.
    whole = Path(tapes(name)).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) * 537 // 1000 + 13])
    info = probe(str(cut))
    assert "ends inside a picture" in caplog.text
    truth = source_clips.decoded(tapes(name))
    with av.open(str(cut)) as container:
        whole_pictures = sum(not p.is_corrupt for p in container.demux(video=0) if p.size)
    assert info.frame_count == whole_pictures > 10
    with FrameReader(str(cut)) as reader:
        frames = [frame for _, frame in reader.frames()]
        assert all(np.array_equal(a, b) for a, b in zip(frames, truth, strict=False))
        assert np.array_equal(reader.read(len(frames) - 1), truth[len(frames) - 1])


@pytest.mark.parametrize("clip", ["dv_avi", "mjpeg_avi", "tiny", "odd"])
def test_colour_conversion_is_exact_at_every_size_and_chroma_layout(tapes, tiny_clip, odd_clip,
                                                                    clip):
    # The reader takes a faster route to RGB at even sizes; its frames must stay the exact
    # BT.601 conversion (4:1:1 DV, 4:2:2 MJPEG, 4:2:0 at an even and an odd size).
    path = {"tiny": tiny_clip, "odd": odd_clip}.get(clip) or tapes(clip)
    info = probe(path)
    info = dataclasses.replace(info, conditioning=dataclasses.replace(
        info.conditioning, matrix="bt601", full_range=False))
    with FrameReader(path, info) as reader:
        frames = [frame for _, frame in reader.frames()]
    truth = source_clips.bt601_frames(path)
    assert len(frames) == len(truth)
    assert all(np.array_equal(a, b) for a, b in zip(frames, truth, strict=True))
