"""Export on real clips: frame counts, sizes, audio kept in sync, nothing half-written."""

from fractions import Fraction

import av
import clips
import numpy as np
import pytest

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled, ExportError
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.writer import VideoWriter
from sdhd_studio.render.export import export_video
from sdhd_studio.render.session import Session


def make_session(source, tmp_path, **output):
    return Session.create(source, tmp_path / "p.sdhd", output=OutputSettings(**output))


def test_export_renders_what_is_missing_and_writes_every_frame(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    session.render(frames=range(0, 10))
    result = export_video(session, tmp_path / "out.mp4", preset="ultrafast")
    assert result.rendered == clips.TINY_FRAMES - 10 and result.previews == 0
    info = probe(str(tmp_path / "out.mp4"))
    assert (info.width, info.height, info.frame_count) == (320, 180, clips.TINY_FRAMES)
    assert info.fps == Fraction(24)
    assert len(info.audio) == 1
    assert clips.audio_duration(tmp_path / "out.mp4") == pytest.approx(info.duration, abs=0.05)
    assert session.status().counts()["done"] == clips.TINY_FRAMES


def test_a_one_shot_export_hands_cheap_frames_over_without_storing_them(tiny_clip, tmp_path):
    # Sharpened Lanczos: cheap, but more than ffmpeg makes on its own (see test_direct.py).
    sharp = {"sharpen": 0.5}
    stored = Session.create(tiny_clip, tmp_path / "a.sdhd", output=OutputSettings(height=180),
                            settings=sharp)
    passed = Session.create(tiny_clip, tmp_path / "b.sdhd", output=OutputSettings(height=180),
                            settings=sharp)
    export_video(stored, tmp_path / "a.mp4", preset="ultrafast")
    result = export_video(passed, tmp_path / "b.mp4", preset="ultrafast", keep_cheap=False)
    assert result.rendered == clips.TINY_FRAMES and not result.direct
    assert stored.cache.size()[0] == clips.TINY_FRAMES
    assert passed.cache.size()[0] == 0 and passed.status().counts()["done"] == 0
    with FrameReader(str(tmp_path / "a.mp4")) as a, FrameReader(str(tmp_path / "b.mp4")) as b:
        assert all(np.array_equal(a.read(i), b.read(i)) for i in range(clips.TINY_FRAMES))


def test_a_one_shot_export_stores_the_frames_in_betweens_are_made_from(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    export_video(session, tmp_path / "out.mp4", preset="ultrafast", fps_multiplier=2,
                 keep_cheap=False)
    assert probe(str(tmp_path / "out.mp4")).frame_count == 2 * clips.TINY_FRAMES
    plan = session.plan()
    assert all(key in session.cache for key in plan.keys)


@pytest.mark.parametrize("multiplier", [1, 2])
def test_flash_and_beep_stay_together(flash_beep_clip, tmp_path, multiplier):
    session = make_session(flash_beep_clip, tmp_path, height=240)
    out = tmp_path / "out.mp4"
    export_video(session, out, preset="ultrafast", fps_multiplier=multiplier)
    info = probe(str(out))
    assert info.frame_count == clips.FLASH_FRAMES * multiplier
    assert info.fps == clips.FLASH_FPS * multiplier
    frame = 1 / info.fps
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= frame
    assert clips.find_flash_frames(out)[0] == clips.FLASH_FRAME * multiplier


def test_flash_and_beep_stay_together_from_a_vfr_source(vfr_clip, tmp_path):
    session = make_session(vfr_clip, tmp_path, height=240)
    out = tmp_path / "out.mp4"
    export_video(session, out, preset="ultrafast", fps_multiplier=2)
    info = probe(str(out))
    assert not info.vfr
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= 1 / info.fps
    assert clips.flash_time(out) == pytest.approx(clips.VFR_FLASH_TIME, abs=1.5 / info.fps)


def test_allow_preview_fills_missing_frames_without_rendering(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    result = export_video(session, tmp_path / "out.mp4", preset="ultrafast", allow_preview=True)
    assert (result.previews, result.rendered) == (clips.TINY_FRAMES, 0)
    assert probe(str(tmp_path / "out.mp4")).frame_count == clips.TINY_FRAMES
    assert session.status().counts()["done"] == 0


def test_failed_frames_stop_the_export_and_leave_no_file(corrupt_clip, tmp_path):
    session = make_session(corrupt_clip, tmp_path, height=96)
    summary = session.render()
    assert summary.failed == len(clips.CORRUPT_FRAMES)
    with pytest.raises(ExportError, match=f"frame {clips.CORRUPT_FRAMES[0]} failed to render"):
        export_video(session, tmp_path / "out.mp4", preset="ultrafast")
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".*")) == []
    result = export_video(session, tmp_path / "out.mp4", preset="ultrafast", allow_preview=True)
    assert result.previews == len(clips.CORRUPT_FRAMES)
    assert probe(str(result.path)).frame_count == clips.CORRUPT_TOTAL
    # An undecodable frame repeats the one before it rather than flashing black.
    first = clips.CORRUPT_FRAMES[0]
    with FrameReader(str(result.path)) as reader:
        before, held = reader.read(first - 1).astype(int), reader.read(first).astype(int)
    assert before.mean() > 50 and np.abs(held - before).mean() < 2


def test_unwritable_output_is_refused_before_any_work(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    with pytest.raises(ExportError):
        export_video(session, tmp_path / "missing-dir" / "out.mp4")
    assert session.status().counts()["done"] == 0


def test_cancelled_export_leaves_no_output(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    cancel = CancelToken()

    def progress(done, total):
        if done == 5:
            cancel.cancel()

    with pytest.raises(Cancelled):
        export_video(session, tmp_path / "out.mp4", on_progress=progress, cancel=cancel)
    assert [p.name for p in tmp_path.iterdir()] == ["p.sdhd"]  # no video, temp or lock file


@pytest.mark.parametrize(("name", "codec", "message"), [
    ("out.avi", None, "cannot write .avi files"),
    ("out.webm", None, "WebM cannot carry H.264 video; choose the codec vp9 or av1"),
])
def test_a_container_that_cannot_be_is_refused_before_any_work(
    tiny_clip, tmp_path, name, codec, message
):
    session = make_session(tiny_clip, tmp_path, height=180)
    with pytest.raises(ExportError, match=message):
        export_video(session, tmp_path / name)
    assert session.status().counts()["done"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["p.sdhd"]


def test_an_output_another_export_is_writing_is_refused_before_any_work(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180)
    out = tmp_path / "out.mp4"
    with VideoWriter(str(out), 64, 48, Fraction(25)) as other:
        with pytest.raises(ExportError, match=f"{out} is being written by another export"):
            export_video(session, out)
        other.write(np.zeros((48, 64, 3), np.uint8))
    assert session.status().counts()["done"] == 0
    assert probe(str(out)).frame_count == 1  # the other export's file, untouched


def test_webm_export_with_vp9_and_opus(tiny_clip, tmp_path):
    session = make_session(tiny_clip, tmp_path, height=180, codec="vp9")
    out = tmp_path / "out.webm"
    result = export_video(session, out, preset="ultrafast", allow_preview=True)
    with av.open(str(out)) as container:
        assert container.format.name == "matroska,webm"
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.audio[0].codec_context.name == "opus"
        assert sum(1 for _ in container.decode(video=0)) == result.frames == clips.TINY_FRAMES
    assert clips.audio_duration(out) == pytest.approx(clips.TINY_FRAMES / 24, abs=0.05)


@pytest.mark.parametrize("ext", [".mkv", ".mov"])
def test_export_writes_the_projects_exact_rate(tmp_path, ext):
    source = tmp_path / "ntsc.mp4"
    clips.run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=30000/1001:d=0.5",
                     "-c:v", "libx264", "-pix_fmt", "yuv420p", str(source))
    session = make_session(str(source), tmp_path, height=120)
    for overrides, fps in (({}, Fraction(30000, 1001)),
                           ({"target_fps": Fraction(24000, 1001)}, Fraction(24000, 1001))):
        out = tmp_path / f"out{ext}"
        result = export_video(session, out, preset="ultrafast", allow_preview=True, **overrides)
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert (stream.average_rate, stream.guessed_rate, result.fps) == (fps, fps, fps)
