"""What an export writes: the container its name asks for, the exact frame rate, BT.709 colour.

Written files are judged with PyAV and by reading the containers' own colour boxes, not through
`sdhd_studio.media`.
"""

import struct
import subprocess
from fractions import Fraction

import av
import clips
import numpy as np
import pytest

from sdhd_studio.core.errors import ExportError
from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.media.writer import AudioSource, VideoWriter

# (extension, encoder, PyAV's format name, the codec it reads back)
CONTAINERS = [
    (".mp4", "h264", "mov,mp4,m4a,3gp,3g2,mj2", "h264"),
    (".mov", "h265", "mov,mp4,m4a,3gp,3g2,mj2", "hevc"),
    (".mkv", "h264", "matroska,webm", "h264"),
    (".webm", "vp9", "matroska,webm", "vp9"),
    (".webm", "av1", "matroska,webm", "av1"),
]
BT709 = 1  # H.273 code point for BT.709 primaries, transfer and matrix alike
LIMITED = 1  # FFmpeg's AVCOL_RANGE_MPEG


def _frames(path, count, fps=Fraction(25), size=(64, 48), codec="h264", audio=None):
    width, height = size
    with VideoWriter(str(path), width, height, fps, codec=codec, preset="ultrafast",
                     audio=audio) as writer:
        for value in range(count):
            writer.write(np.full((height, width, 3), value * 7 % 256, np.uint8))


@pytest.mark.parametrize(("ext", "codec", "format_name", "decoded"), CONTAINERS)
def test_container_follows_the_extension_with_audio(
    flash_beep_clip, tmp_path, ext, codec, format_name, decoded
):
    out = tmp_path / f"out{ext}"
    audio = AudioSource(flash_beep_clip, 1, 0.0)
    _frames(out, clips.FLASH_FRAMES, codec=codec, audio=audio)
    with av.open(str(out)) as container:
        assert container.format.name == format_name
        video = container.streams.video[0]
        assert video.codec_context.codec.canonical_name == decoded
        expected_audio = "opus" if ext == ".webm" else "aac"  # WebM cannot carry AAC
        assert container.streams.audio[0].codec_context.name == expected_audio
        frames = sum(1 for _ in container.decode(video))
    assert frames == clips.FLASH_FRAMES
    assert clips.audio_duration(out) == pytest.approx(clips.FLASH_FRAMES / 25, abs=0.03)
    if ext == ".mkv":  # Matroska says so in its header, MP4 and MOV by their brand
        assert out.read_bytes()[:64].find(b"matroska") > 0
    elif ext == ".webm":
        assert out.read_bytes()[:64].find(b"webm") > 0
    else:
        brand = out.read_bytes()[8:12]
        assert brand == (b"qt  " if ext == ".mov" else b"isom")


def test_pcm_audio_is_copied_where_the_container_carries_it(flash_beep_clip, tmp_path):
    pcm = tmp_path / "capture.mov"
    clips.run_ffmpeg("-i", flash_beep_clip, "-c:v", "copy", "-c:a", "pcm_s16le", str(pcm))
    for ext, expected in ((".mov", "pcm_s16le"), (".mkv", "pcm_s16le"), (".mp4", "aac"),
                          (".webm", "opus")):
        out = tmp_path / f"out{ext}"
        codec = "vp9" if ext == ".webm" else "h264"
        _frames(out, clips.FLASH_FRAMES, size=(160, 120), codec=codec,
                audio=AudioSource(str(pcm), 1, 0.0))
        with av.open(str(out)) as container:
            assert container.streams.audio[0].codec_context.name == expected, ext
        assert clips.audio_duration(out) == pytest.approx(clips.FLASH_FRAMES / 25, abs=0.03)


@pytest.mark.parametrize(("name", "codec", "message"), [
    ("out.avi", "h264", "cannot write .avi files; name the output .mp4, .mov, .mkv, .webm"),
    ("out", "h264", "cannot write a file without an extension"),
    ("out.webm", "h264", "WebM cannot carry H.264 video; choose the codec vp9 or av1"),
    ("out.webm", "h265", "WebM cannot carry H.265 video"),
    ("out.mov", "vp9", "MOV cannot carry VP9 video; choose the codec h264 or h265"),
])
def test_a_container_that_cannot_be_is_refused_before_anything_starts(
    tmp_path, name, codec, message
):
    with pytest.raises(ExportError, match=message):
        VideoWriter(str(tmp_path / name), 64, 48, Fraction(25), codec=codec)
    assert list(tmp_path.iterdir()) == []


RATES = [Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(50),
         Fraction(60000, 1001), Fraction(25, 2)]


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".webm"])
def test_the_exact_rate_is_written_and_frames_sit_on_its_grid(tmp_path, ext):
    for fps in RATES:
        out = tmp_path / f"out{ext}"
        _frames(out, 12, fps=fps, codec="vp9" if ext == ".webm" else "h264")
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            times = [frame.pts * stream.time_base for frame in container.decode(stream)]
            rates = (stream.average_rate, stream.guessed_rate)
            tick = stream.time_base
        assert len(times) == 12
        # Matroska counts time in milliseconds; MP4 and MOV pick a timescale that is exact.
        slack = tick / 2 if ext in (".mkv", ".webm") else 0
        assert all(abs(t - n / fps) <= slack for n, t in enumerate(times)), (fps, times)
        if ext in (".mkv", ".webm") and fps.numerator > 30000:
            # FFmpeg's Matroska reader caps the terms of the rate it derives from the frame
            # duration (in whole ns) at 30000, so 60000/1001 reads back as 19001/317.
            assert all(abs(rate / fps - 1) < 1e-6 for rate in rates), (fps, rates)
        else:
            assert rates == (fps, fps)


# Pure primaries and secondaries, greys from black to white, and two skin tones.
PATCHES = [
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
    (0, 255, 255), (255, 0, 255), (0, 0, 0), (255, 255, 255),
    (64, 64, 64), (128, 128, 128), (192, 192, 192), (16, 16, 16),
    (224, 172, 140), (141, 85, 36), (90, 160, 60), (30, 60, 120),
]
PATCH = 32  # pixels; 4x4 patches


def _patch_picture():
    image = np.zeros((4 * PATCH, 4 * PATCH, 3), np.uint8)
    for i, colour in enumerate(PATCHES):
        row, col = divmod(i, 4)
        image[row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = colour
    return image


def _bt709_limited_to_rgb(frame):
    """RGB (0-255 floats) from a decoded yuv420p frame's planes, by the BT.709 matrix."""
    planes = frame.to_ndarray()  # Y on top of U and V, each a quarter of Y
    h, w = frame.height, frame.width
    y = planes[:h].astype(np.float64)
    u = planes[h:h + h // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1).astype(np.float64)
    v = planes[h + h // 4:].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1).astype(np.float64)
    kr, kb = 0.2126, 0.0722
    luma, cb, cr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.stack([r, g, b], axis=-1) * 255


def _patch_means(rgb):
    inner = PATCH // 4  # away from the edges that 4:2:0 chroma blurs
    means = []
    for i in range(len(PATCHES)):
        row, col = divmod(i, 4)
        block = rgb[row * PATCH + inner:(row + 1) * PATCH - inner,
                    col * PATCH + inner:(col + 1) * PATCH - inner]
        means.append(block.reshape(-1, 3).mean(axis=0))
    return np.array(means)


def _quicktime_colr(data):
    """(primaries, transfer, matrix, full range or None) from an MP4/MOV 'colr' box."""
    at = data.find(b"colr")
    assert at > 0, "no colr box"
    kind = data[at + 4:at + 8]
    primaries, transfer, matrix = struct.unpack(">HHH", data[at + 8:at + 14])
    full = data[at + 14] >> 7 if kind == b"nclx" else None  # MOV's nclc has no range
    return primaries, transfer, matrix, full


def _matroska_colour(data):
    """The children of a Matroska track's Colour element, by element ID."""
    at = data.find(b"\x55\xb0")
    assert at > 0, "no Colour element"

    def vint(pos):
        first, length, mask = data[pos], 1, 0x80
        while not first & mask:
            mask >>= 1
            length += 1
        value = first & (mask - 1)
        for byte in data[pos + 1:pos + length]:
            value = value << 8 | byte
        return value, pos + length

    size, pos = vint(at + 2)
    end = pos + size
    children = {}
    while pos < end:
        element = data[pos] << 8 | data[pos + 1]
        length, pos = vint(pos + 2)
        children[element] = int.from_bytes(data[pos:pos + length], "big")
        pos += length
    return children


def _elementary_stream_colour(path, codec, tmp_path):
    """Colour tags as the video bitstream alone carries them (copied out of the container)."""
    raw = tmp_path / "raw"
    muxer = {"h264": "h264", "hevc": "hevc"}.get(codec, "ivf")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(path), "-map", "0:v", "-c",
                    "copy", "-f", muxer, str(raw)], check=True)
    with av.open(str(raw)) as container:
        context = container.streams.video[0].codec_context
        return context.color_primaries, context.color_trc, context.colorspace, context.color_range


@pytest.mark.parametrize(("ext", "codec", "format_name", "decoded"), CONTAINERS)
def test_colour_is_bt709_limited_tagged_and_decodes_to_the_patches(
    tmp_path, ext, codec, format_name, decoded
):
    out = tmp_path / f"patches{ext}"
    image = _patch_picture()
    with VideoWriter(str(out), image.shape[1], image.shape[0], Fraction(25), codec=codec,
                     crf=18, preset="ultrafast") as writer:
        for _ in range(3):
            writer.write(image)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        tags = (context.color_primaries, context.color_trc, context.colorspace,
                context.color_range)
        frame = next(container.decode(stream))
    assert tags == (BT709, BT709, BT709, LIMITED)
    assert frame.format.name == "yuv420p"
    error = np.abs(_patch_means(_bt709_limited_to_rgb(frame)) - np.array(PATCHES))
    assert error.max() <= 3, dict(zip(PATCHES, error.max(axis=1).round(1), strict=True))

    data = out.read_bytes()
    if ext in (".mp4", ".mov"):
        full = None if ext == ".mov" else 0
        assert _quicktime_colr(data) == (BT709, BT709, BT709, full)
    else:  # MatrixCoefficients, Range (1: broadcast), TransferCharacteristics, Primaries
        colour = _matroska_colour(data)
        assert {k: colour[k] for k in (0x55B1, 0x55B9, 0x55BA, 0x55BB)} == {
            0x55B1: BT709, 0x55B9: 1, 0x55BA: BT709, 0x55BB: BT709,
        }
    in_stream = _elementary_stream_colour(out, decoded, tmp_path)
    if decoded == "vp9":  # a VP9 bitstream has a matrix and a range, but no primaries field
        assert in_stream[2:] == (BT709, LIMITED)
    else:
        assert in_stream == (BT709, BT709, BT709, LIMITED)
