"""FrameReader: the same pixels for frame N however it is reached, VFR on a grid, bad frames."""

import random
from concurrent.futures import ThreadPoolExecutor

import av
import clips
import numpy as np
import pytest

from sdhd_studio.core.errors import FrameDecodeError, MediaError
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader


def _sequential(path):
    with FrameReader(path) as reader:
        return [frame for _, frame in reader.frames()]


@pytest.mark.parametrize("fixture", ["sample_clip", "open_gop_clip", "tiny_clip"])
def test_random_access_matches_sequential(request, fixture):
    path = request.getfixturevalue(fixture)
    expected = _sequential(path)
    count = len(expected)
    rng = random.Random(7)
    # Random jumps (forward and backward), a backward sweep, then an ascending run that must
    # reuse the decoder position.
    order = rng.sample(range(count), min(count, 40)) + list(range(count - 1, -1, -7))
    order += list(range(count // 3, count // 3 + 10))
    with FrameReader(path, cache_size=2) as reader:
        for index in order:
            assert np.array_equal(reader.read(index), expected[index]), index


def test_frames_are_upright_rgb_and_owned_by_the_caller(sample_clip):
    with FrameReader(sample_clip) as reader:
        first = reader.read(0)
        assert first.shape == (360, 640, 3) and first.dtype == np.uint8
        first[:] = 0
        assert reader.read(0).any()
        # Cross-check colour order against PyAV's own RGB conversion.
        with av.open(sample_clip) as container:
            reference = next(container.decode(video=0)).to_ndarray(format="rgb24")
        assert np.array_equal(reader.read(0), reference)


def test_rotated_video_is_delivered_upright(sample_clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    clips.run_ffmpeg("-display_rotation", "90", "-i", sample_clip, "-c", "copy", str(rotated))
    with FrameReader(sample_clip) as plain, FrameReader(str(rotated)) as turned:
        frame = turned.read(3)
        assert frame.shape == (640, 360, 3)
        # Counter-clockwise 90 degrees, as the display matrix says.
        assert np.array_equal(frame, np.rot90(plain.read(3)))


def test_partial_ranges_and_out_of_range(tiny_clip):
    with FrameReader(tiny_clip) as reader:
        assert [i for i, _ in reader.frames(20)] == [20, 21, 22, 23]
        assert [i for i, _ in reader.frames(5, 8)] == [5, 6, 7]
        with pytest.raises(MediaError, match=r"frame 500 is out of range: .* 24 frames \(0-23\)"):
            reader.read(500)
        with pytest.raises(MediaError, match="out of range"):
            reader.read(-1)
        with pytest.raises(MediaError, match="out of range"):
            next(reader.frames(30))


def test_vfr_maps_onto_the_constant_grid(vfr_clip):
    info = probe(vfr_clip)
    # Reference: every picture decoded straight with PyAV, with its timestamp.
    with av.open(vfr_clip) as container:
        pictures = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    times = np.array([t for t, _ in pictures])
    with FrameReader(vfr_clip) as reader:
        frames = list(reader.frames())
        assert len(frames) == info.frame_count
        for index, frame in frames:
            due = info.start_time + (index + 0.5) / float(info.fps)
            shown = int(np.searchsorted(times, due, side="right")) - 1
            assert np.array_equal(frame, pictures[shown][1]), index
        # The fast part has more pictures than grid slots (some skipped), the slow part fewer
        # (some repeated).
        used = {
            int(np.searchsorted(times, info.start_time + (i + 0.5) / float(info.fps)) - 1)
            for i in range(info.frame_count)
        }
        assert len(used) < len(pictures)
        flash = [i for i, f in frames if f.mean() > 230]
        assert flash and flash[0] / float(info.fps) == pytest.approx(
            clips.VFR_FLASH_TIME, abs=1 / float(info.fps)
        )
        assert np.array_equal(reader.read(frames[-1][0]), frames[-1][1])


def test_corrupt_frames_raise_and_neighbours_decode(corrupt_clip):
    bad = set(clips.CORRUPT_FRAMES)
    with FrameReader(corrupt_clip) as reader:
        good = {}
        for index in [35, 20, 0, 21, 49, 19, 22, 34, 36] + list(range(clips.CORRUPT_TOTAL)):
            if index in bad:
                with pytest.raises(FrameDecodeError, match=f"frame {index} could not be decoded"):
                    reader.read(index)
            else:
                frame = reader.read(index)
                assert good.setdefault(index, frame) is frame or np.array_equal(good[index], frame)
        # The sequential iterator stops at a bad frame and can be resumed after it.
        start, seen = 0, []
        while start < clips.CORRUPT_TOTAL:
            try:
                for index, _ in reader.frames(start):
                    seen.append(index)
                start = clips.CORRUPT_TOTAL
            except FrameDecodeError as error:
                assert error.index in bad
                start = error.index + 1
        assert seen == [i for i in range(clips.CORRUPT_TOTAL) if i not in bad]


def test_readers_on_several_threads_agree(open_gop_clip):
    expected = _sequential(open_gop_clip)

    def work(offset):
        with FrameReader(open_gop_clip) as reader:
            return all(
                np.array_equal(reader.read(i), expected[i]) for i in range(offset, len(expected), 3)
            )

    with ThreadPoolExecutor(3) as pool:
        assert all(pool.map(work, range(3)))
