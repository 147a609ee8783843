"""probe() on real files: the facts the editor relies on."""

from fractions import Fraction
from pathlib import Path

import clips
import pytest

from sdhd_studio.core.errors import MediaError
from sdhd_studio.media.ffmpeg import ffmpeg_exe, video_encoders
from sdhd_studio.media.probe import probe


def test_sample_is_sd_with_audio(sample_clip):
    info = probe(sample_clip)
    assert (info.width, info.height) == (640, 360)
    assert info.fps == Fraction(25) and isinstance(info.fps, Fraction)
    assert info.frame_count == 132 and info.duration == pytest.approx(5.28)
    assert (info.codec, info.pix_fmt, info.rotation, info.vfr) == ("h264", "yuv420p", 0, False)
    assert info.sample_aspect == 1 and info.start_time == 0
    assert [(a.codec, a.channels, a.sample_rate) for a in info.audio] == [("aac", 2, 48000)]
    assert info.audio[0].duration == pytest.approx(info.duration, abs=0.05)


def test_tiny_and_odd_clips(tiny_clip, odd_clip):
    tiny = probe(tiny_clip)
    assert (tiny.width, tiny.height, tiny.fps, tiny.frame_count) == (160, 90, 24, clips.TINY_FRAMES)
    assert len(tiny.audio) == 1
    odd = probe(odd_clip)
    assert (odd.width, odd.height) == clips.ODD_SIZE and odd.audio == ()


def test_every_audio_track_is_found_with_its_language(two_tracks_clip):
    info = probe(two_tracks_clip)
    # A program stream has no place for language tags (a DVD keeps them in its IFO files).
    tagged = "fra" if two_tracks_clip.endswith(".mp4") else None
    assert [a.language for a in info.audio] == [None, tagged]
    assert [a.sample_rate for a in info.audio] == [48000, 48000]


def test_vfr_clip_is_flagged_and_gets_its_average_rate(vfr_clip):
    info = probe(vfr_clip)
    pictures = clips.VFR_FAST + clips.VFR_SLOW
    span = clips.VFR_FAST / 50 + clips.VFR_SLOW / 25
    assert info.vfr
    assert info.fps == Fraction(pictures) / Fraction(span).limit_denominator(100)
    assert info.frame_count == pictures and info.duration == pytest.approx(span)


def test_a_recording_with_a_dropout_keeps_its_rate(tmp_path):
    # Pictures 10-14 of 40 lost (a capture or broadcast dropout): a gap in the timestamps of
    # a 25 fps stream, not a variable frame rate (35 pictures in 1.6 s made it 21.9 fps).
    dropout = tmp_path / "dropout.ts"
    clips.run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1.6",
                     "-vf", "select='not(between(n,10,14))'", "-fps_mode", "passthrough",
                     "-c:v", "mpeg2video", str(dropout))  # fmt: skip
    info = probe(str(dropout))
    assert (info.fps, info.vfr, info.frame_count) == (25, False, 40)


def test_rotation_is_applied_to_the_size(sample_clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    clips.run_ffmpeg("-display_rotation", "90", "-i", sample_clip, "-c", "copy", str(rotated))
    info = probe(str(rotated))
    # -display_rotation turns counter-clockwise; VideoInfo counts clockwise.
    assert (info.width, info.height, info.rotation) == (360, 640, 270)


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("audio_only_file", "has no video stream"),
        ("not_a_video", "is not a video file"),
    ],
)
def test_unusable_files_get_a_clear_error(request, fixture, message):
    with pytest.raises(MediaError, match=message):
        probe(request.getfixturevalue(fixture))


def test_a_recording_cut_off_before_its_index_says_so(tiny_clip, tmp_path):
    # FFmpeg writes the MP4 index (moov) last: a camera or recorder that stopped leaves none.
    data = Path(tiny_clip).read_bytes()
    assert data.rfind(b"moov") > len(data) // 2
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="was cut off before it was finished"):
        probe(str(cut))


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        probe(str(tmp_path / "nope.mp4"))


def test_ffmpeg_is_found_with_its_encoders():
    assert ffmpeg_exe()
    assert {"libx264", "libx265"} <= video_encoders()
