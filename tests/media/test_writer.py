"""VideoWriter on real clips: frame counts, sizes, audio in sync, nothing half-written."""

import os
from fractions import Fraction

import clips
import numpy as np
import pytest

from sdhd_studio.core.errors import ExportError
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.writer import AudioSource, VideoWriter


def _round_trip(src, out, start=0, size=None, **kwargs):
    """Copy the source's frames from `start` on through the writer, with its audio."""
    info = probe(src)
    width, height = size or (info.width, info.height)
    audio = AudioSource(src, info.audio[0].index, info.start_time + start / float(info.fps))
    with (
        FrameReader(src) as reader,
        VideoWriter(str(out), width, height, info.fps, audio=audio, **kwargs) as writer,
    ):
        for _, frame in reader.frames(start):
            writer.write(frame if size is None else np.resize(frame, (height, width, 3)))
    return info


def _no_leftovers(folder):
    return [name for name in os.listdir(folder) if ".partial" in name] == []


def test_frames_size_and_rate_survive(tmp_path):
    out = tmp_path / "out.mp4"
    fps = Fraction(30000, 1001)
    rng = np.random.default_rng(0)
    with VideoWriter(str(out), 64, 48, fps, crf=30, preset="ultrafast") as writer:
        for _ in range(17):
            writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    info = probe(str(out))
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 17, fps)
    assert info.pix_fmt == "yuv420p" and info.audio == () and _no_leftovers(tmp_path)


def test_h265_output(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(str(out), 64, 48, Fraction(25), codec="h265", preset="ultrafast") as w:
        for value in range(0, 250, 25):
            w.write(np.full((48, 64, 3), value, np.uint8))
    info = probe(str(out))
    assert (info.codec, info.frame_count) == ("hevc", 10)


@pytest.mark.parametrize("start", [0, 25])
def test_flash_and_beep_stay_together(flash_beep_clip, tmp_path, start):
    out = tmp_path / "out.mp4"
    info = _round_trip(flash_beep_clip, out, start=start, preset="ultrafast")
    frame = 1 / float(info.fps)
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= frame
    assert clips.find_flash_frames(out) == [clips.FLASH_FRAME - start]
    result = probe(str(out))
    assert result.frame_count == clips.FLASH_FRAMES - start
    assert clips.audio_duration(out) == pytest.approx(result.duration, abs=0.03)


def test_vfr_round_trip_keeps_sync(vfr_clip, tmp_path):
    out = tmp_path / "out.mp4"
    info = _round_trip(vfr_clip, out, preset="ultrafast")
    result = probe(str(out))
    assert not result.vfr and result.frame_count == info.frame_count and result.fps == info.fps
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= 1 / float(info.fps)


def test_sample_audio_is_copied_and_matches_the_video(sample_clip, tmp_path):
    out = tmp_path / "out.mp4"
    _round_trip(sample_clip, out, preset="ultrafast")
    result = probe(str(out))
    assert (result.width, result.height, result.frame_count) == (640, 360, 132)
    assert result.audio[0].codec == "aac" and result.audio[0].channels == 2
    assert clips.audio_duration(out) == pytest.approx(result.duration, abs=0.05)


def test_odd_sizes_and_wrong_frames_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(str(tmp_path / "o.mp4"), 161, 91, Fraction(25))
    with VideoWriter(str(tmp_path / "o.mp4"), 64, 48, Fraction(25)) as writer:
        with pytest.raises(ValueError, match="48x64x3 uint8"):
            writer.write(np.zeros((48, 64), np.uint8))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert probe(str(tmp_path / "o.mp4")).frame_count == 1


def test_unwritable_folder_fails_before_ffmpeg_and_leaves_nothing(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        VideoWriter(str(tmp_path / "missing" / "out.mp4"), 64, 48, Fraction(25))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ExportError, match="does not exist"):
        VideoWriter(str(not_a_folder / "out.mp4"), 64, 48, Fraction(25))
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_unknown_encoder_is_refused(tmp_path):
    with pytest.raises(ExportError, match="no video encoder named 'no_such_encoder'"):
        VideoWriter(str(tmp_path / "out.mp4"), 64, 48, Fraction(25), codec="no_such_encoder")
    assert os.listdir(tmp_path) == []


def test_failed_encode_reports_ffmpeg_and_leaves_no_file(tmp_path):
    encoder = VideoWriter(str(tmp_path / "out.mp4"), 64, 48, Fraction(25), preset="nonsense")
    with pytest.raises(ExportError, match="invalid preset 'nonsense'"), encoder as writer:
        for _ in range(200):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_ffmpeg_dying_mid_write_is_an_export_error(tmp_path):
    out = tmp_path / "out.mp4"
    writer = VideoWriter(str(out), 640, 480, Fraction(25), preset="ultrafast")
    writer.write(np.zeros((480, 640, 3), np.uint8))
    writer._proc.kill()  # as if ffmpeg crashed or the disk filled up
    with pytest.raises(ExportError, match="ffmpeg"):  # noqa: PT012
        for _ in range(100):
            writer.write(np.zeros((480, 640, 3), np.uint8))
        writer.close()
    assert os.listdir(tmp_path) == []


def test_exception_in_the_with_block_aborts(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(str(tmp_path / "o.mp4"), 64, 48, 25) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("render failed")
    assert os.listdir(tmp_path) == []


def test_zero_frames_is_an_error(tmp_path):
    with (
        pytest.raises(ExportError, match="no frames"),
        VideoWriter(str(tmp_path / "o.mp4"), 64, 48, Fraction(25)),
    ):
        pass
    assert os.listdir(tmp_path) == []


def test_audio_an_mp4_cannot_carry_becomes_aac_and_stays_in_sync(flash_beep_clip, tmp_path):
    # Tape captures often come as QuickTime/AVI with PCM audio, which MP4 does not take.
    pcm = tmp_path / "capture.mov"
    clips.run_ffmpeg("-i", flash_beep_clip, "-c:v", "copy", "-c:a", "pcm_s16le", str(pcm))
    assert probe(str(pcm)).audio[0].codec == "pcm_s16le"
    out = tmp_path / "out.mp4"
    info = _round_trip(str(pcm), out, preset="ultrafast")
    result = probe(str(out))
    assert result.audio[0].codec == "aac"
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= 1 / float(info.fps)
    assert clips.audio_duration(out) == pytest.approx(result.duration, abs=0.03)
