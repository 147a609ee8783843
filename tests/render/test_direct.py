"""Plain one-shot jobs made by ffmpeg whole (render/direct.py): the project's frames, sound in
sync, colours right, the same picture as frame by frame, and nothing left when cancelled."""

import os
import subprocess

import av
import clips
import numpy as np
import pytest
import source_clips
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from source_clips import PAL_FIELDS

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import Cancelled
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr_y
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.render.direct import direct_source
from sdhd_studio.render.export import export_video
from sdhd_studio.render.session import Session


def make(source, folder, **settings):
    return Session.create(source, folder, output=OutputSettings(height=240), settings=settings)


def test_a_plain_upscale_is_made_by_ffmpeg_with_the_frames_and_the_sound_in_sync(
    flash_beep_clip, tmp_path
):
    session = make(flash_beep_clip, tmp_path / "p.sdhd")
    out = tmp_path / "out.mp4"
    result = export_video(session, out, preset="ultrafast", keep_cheap=False)
    assert result.direct and result.frames == clips.FLASH_FRAMES
    info = probe(str(out))
    assert (info.width, info.height, info.fps) == (320, 240, clips.FLASH_FPS)
    assert info.frame_count == clips.FLASH_FRAMES
    assert clips.find_flash_frames(out)[0] == clips.FLASH_FRAME
    assert abs(clips.flash_time(out) - clips.find_beep_time(out)) <= 1 / info.fps
    assert session.cache.size()[0] == 0


def test_it_is_the_picture_the_frames_one_by_one_make(sample_clip, tmp_path):
    one_by_one = make(sample_clip, tmp_path / "a.sdhd")
    whole = make(sample_clip, tmp_path / "b.sdhd")
    a = export_video(one_by_one, tmp_path / "a.mp4", crf=10, preset="ultrafast")
    b = export_video(whole, tmp_path / "b.mp4", crf=10, preset="ultrafast", keep_cheap=False)
    assert not a.direct and b.direct and a.frames == b.frames
    with FrameReader(str(tmp_path / "a.mp4")) as ra, FrameReader(str(tmp_path / "b.mp4")) as rb:
        worst = min(psnr_y(ra.read(i), rb.read(i)) for i in range(0, a.frames, 13))
    assert worst > 40  # two Lanczos scalers, in RGB and in Y'CbCr: the same picture


@pytest.mark.parametrize("full", [False, True])
def test_bt601_colours_come_out_in_bt709_as_they_were(tmp_path, full):
    source = tmp_path / "patch.mkv"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=0x28B45A:s=64x48:r=25:d=0.4",
         "-vf", f"scale=out_color_matrix=bt601:out_range={'full' if full else 'limited'},"
         "format=yuv420p", "-colorspace", "bt470bg", "-color_range", "pc" if full else "tv",
         "-c:v", "ffv1", str(source)],
        check=True,
    )  # fmt: skip
    session = make(str(source), tmp_path / "p.sdhd")
    out = tmp_path / "out.mp4"
    assert export_video(session, out, crf=10, preset="ultrafast", keep_cheap=False).direct
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.colorspace, frame.color_range) == (Colorspace.ITU709, ColorRange.MPEG)
        rgb = frame.reformat(format="rgb24", src_colorspace=Colorspace.ITU709,
                             src_color_range=ColorRange.MPEG).to_ndarray()
    assert np.abs(rgb[120, 160].astype(int) - (40, 180, 90)).max() <= 3


EXACT = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.ACCURATE_RND
PATCHES = [(200, 40, 40), (40, 180, 60), (50, 60, 200), (220, 60, 200)]  # RGB, left to right


@pytest.mark.parametrize("codec", [("-c:v", "mjpeg", "-q:v", "1"),
                                   ("-c:v", "libx264", "-crf", "0", "-color_range", "pc")])
def test_full_range_capture_and_phone_colours_come_out_as_they_were(tmp_path, codec):
    # MJPEG and full-range H.264 decode to yuvj formats, whose range the scale keeps unless
    # told its output format.
    truth = np.repeat(np.repeat(np.array([PATCHES], np.uint8), 64, 0), 64, 1)
    source = tmp_path / ("patch.avi" if "mjpeg" in codec else "patch.mp4")
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "256x64",
         "-r", "25", "-i", "-", "-vf", "scale=out_color_matrix=bt601:out_range=full,"
         "format=yuvj422p", *codec, str(source)],
        input=truth.tobytes() * 5, check=True,
    )  # fmt: skip
    session = make(str(source), tmp_path / "p.sdhd")
    out = tmp_path / "out.mp4"
    assert export_video(session, out, crf=0, preset="ultrafast", keep_cheap=False).direct
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.reformat(format="rgb24", src_colorspace=Colorspace.ITU709,
                             src_color_range=ColorRange.MPEG, interpolation=EXACT).to_ndarray()
    step = rgb.shape[1] // len(PATCHES)
    centres = rgb[rgb.shape[0] // 2, step // 2 :: step].astype(int)
    assert np.abs(centres - PATCHES).max() <= 2


def test_what_ffmpeg_cannot_do_alone_goes_frame_by_frame(sample_clip, tapes, tmp_path):
    plain = make(sample_clip, tmp_path / "plain.sdhd")
    size = plain.project.frame_size
    assert direct_source(plain.project, plain.plan(), size) is not None
    sharpened = make(sample_clip, tmp_path / "sharp.sdhd", sharpen=0.5)
    assert direct_source(sharpened.project, sharpened.plan(), size) is None
    bicubic = make(sample_clip, tmp_path / "bicubic.sdhd", upscaler="bicubic")
    assert direct_source(bicubic.project, bicubic.plan(), size) is None
    keyframed = make(sample_clip, tmp_path / "kf.sdhd")
    keyframed.edit("Keyframe", edits.set_keyframe, 60, {"upscaler": "bicubic"})
    assert direct_source(keyframed.project, keyframed.plan(), size) is None
    for tape, conditioning in (("pal_mpg", {"deinterlace": "mc"}), ("film_mpg", {})):
        made = Session.create(tapes(tape), tmp_path / f"{tape}.sdhd", conditioning=conditioning,
                              output=OutputSettings(height=240))  # mc fields; film (IVTC)
        assert direct_source(made.project, made.plan(), made.project.frame_size) is None
    doubled = make(sample_clip, tmp_path / "x2.sdhd")
    doubled.edit("Rate", edits.set_output, fps_multiplier=2)
    assert direct_source(doubled.project, doubled.plan(), size) is None


def test_cancelling_stops_ffmpeg_and_leaves_nothing(sample_clip, tmp_path):
    session = make(sample_clip, tmp_path / "p.sdhd")
    out = tmp_path / "out.mp4"
    token = CancelToken()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 10:
            token.cancel()

    with pytest.raises(Cancelled):
        export_video(session, out, preset="medium", keep_cheap=False, cancel=token,
                     on_progress=progress)
    assert seen and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["p.sdhd"]  # no temp, no lock


def test_a_dvd_tape_is_deinterlaced_to_one_frame_per_field_by_ffmpeg_alone(tapes, tmp_path):
    one_by_one = make(tapes("pal_mpg"), tmp_path / "a.sdhd")
    whole = make(tapes("pal_mpg"), tmp_path / "b.sdhd")
    a = export_video(one_by_one, tmp_path / "a.mp4", crf=8, preset="ultrafast")
    b = export_video(whole, tmp_path / "b.mp4", crf=8, preset="ultrafast", keep_cheap=False)
    assert b.direct and (b.frames, b.fps) == (a.frames, a.fps) == (PAL_FIELDS, 50)
    assert clips.audio_duration(tmp_path / "b.mp4") == pytest.approx(1.0, abs=0.05)
    with FrameReader(str(tmp_path / "a.mp4")) as ra, FrameReader(str(tmp_path / "b.mp4")) as rb:
        worst = min(psnr_y(ra.read(i), rb.read(i)) for i in range(0, a.frames, 5))
    assert worst > 40  # the same fields in the same places


def test_a_dvd_folder_is_made_by_ffmpeg_alone_too(tapes, tmp_path):
    whole = source_clips.make_dvd(tapes.truth("pal_mpg"), tmp_path)  # its title as one file
    outs = []
    for n, source in enumerate((tmp_path / "DVD", whole)):
        out = tmp_path / f"{n}.mp4"
        made = export_video(make(str(source), tmp_path / f"{n}.sdhd"), out, crf=8,
                            preset="ultrafast", keep_cheap=False)  # fmt: skip
        assert made.direct and made.frames == PAL_FIELDS
        assert clips.audio_duration(out) == pytest.approx(1.0, abs=0.05)
        outs.append(source_clips.decoded(out))
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
