"""Small real test clips made with the bundled ffmpeg, and helpers that inspect decoded output.

The helpers decode with PyAV directly, not through `sdhd_studio.media`, so they can judge it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from sdhd_studio.media.ffmpeg import ffmpeg_exe

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "bbb_sd.mp4"

TINY_FRAMES = 24  # 160x90 at 24 fps, B-frames, 440 Hz tone
OPEN_GOP_FRAMES = 96  # 160x90 at 24 fps, open GOPs of 24 with B-frames
FLASH_FPS = 25
FLASH_FRAMES = 75  # 160x120 at 25 fps, 3 s, black
FLASH_FRAME = 40  # the one white frame; a 1-frame beep starts at the same instant
VFR_FAST, VFR_SLOW = 50, 40  # pictures at 50 fps, then at 25 fps
VFR_FLASH_PICTURE = 70  # white picture, shown at VFR_FLASH_TIME with the beep
VFR_FLASH_TIME = 1.8
ODD_SIZE = (161, 91)
CORRUPT_FRAMES = (20, 21, 35)  # of 50 mjpeg frames, these have their data zeroed
CORRUPT_TOTAL = 50
BBB_FRAMES = 33  # 160x90 at 25 fps, cut from the bundled Big Buck Bunny sample (real motion)

TWO_TRACKS = (440, 1000)  # the tones of two_tracks' first and second audio streams (Hz)

BEEP = "'sin(2*PI*1000*t)*between(t,{t0:.4f},{t1:.4f})'"


def run_ffmpeg(*args: str) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


def make_tiny(path: Path) -> Path:
    run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={TINY_FRAMES / 24}",
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=1",
        "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        str(path),
    )  # fmt: skip
    return path


def make_two_tracks(path: Path) -> Path:
    """2 s of 160x96 at 25 fps with two audio streams: a TWO_TRACKS[0] Hz tone untagged, then a
    TWO_TRACKS[1] Hz tone tagged French (where the container keeps tags); MPEG-2 with mp2
    audio in a .mpg, else H.264 and AAC."""
    mpeg = path.suffix == ".mpg"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=2",
        *(a for hz in TWO_TRACKS
          for a in ("-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=48000:d=2")),
        "-map", "0:v", "-map", "1:a", "-map", "2:a",
        "-c:v", "mpeg2video" if mpeg else "libx264", "-pix_fmt", "yuv420p",
        "-c:a", "mp2" if mpeg else "aac", "-metadata:s:a:1", "language=fra",
        str(path),
    )  # fmt: skip
    return path


def dominant_frequency(path: str | Path) -> float:
    """The strongest frequency (Hz) in the first audio stream, from the FFT of all of it."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray().reshape(-1, f.samples)[0] for f in container.decode(stream)]
        rate = stream.sample_rate
    samples = np.concatenate(chunks).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples - samples.mean()))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def make_bbb(path: Path) -> Path:
    run_ffmpeg(
        "-i", str(SAMPLE), "-vf", "scale=160:90", "-frames:v", str(BBB_FRAMES), "-an",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_open_gop(path: Path) -> Path:
    run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={OPEN_GOP_FRAMES / 24}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-x264-params", "open-gop=1:keyint=24:min-keyint=24:scenecut=0:bframes=3",
        str(path),
    )  # fmt: skip
    return path


def make_flash_beep(path: Path) -> Path:
    t0 = FLASH_FRAME / FLASH_FPS
    duration = FLASH_FRAMES / FLASH_FPS
    run_ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=160x120:r={FLASH_FPS}:d={duration}",
        "-f", "lavfi", "-i",
        f"aevalsrc={BEEP.format(t0=t0, t1=t0 + 1 / FLASH_FPS)}:s=48000:d={duration}",
        "-vf", f"drawbox=c=white:t=fill:enable='eq(n,{FLASH_FRAME})'",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def make_vfr(path: Path) -> Path:
    """Matroska with 50 pictures at 50 fps then 40 at 25 fps (2.6 s); each picture's grey
    level is distinct, one is white, and a beep sounds while it is shown."""
    total = VFR_FAST + VFR_SLOW
    run_ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=160x120:r=50:d={total / 50}",
        "-f", "lavfi", "-i",
        f"aevalsrc={BEEP.format(t0=VFR_FLASH_TIME, t1=VFR_FLASH_TIME + 0.04)}:s=48000:d=2.6",
        "-vf",
        f"geq=lum='if(eq(N,{VFR_FLASH_PICTURE}),235,16+2*N)':cb=128:cr=128,"
        # In units of the 1/50 s timebase so no float rounding moves a picture.
        f"setpts='if(lt(N,{VFR_FAST}),N,{VFR_FAST}+(N-{VFR_FAST})*2)'",
        "-fps_mode", "passthrough",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def make_odd(path: Path) -> Path:
    w, h = ODD_SIZE
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=0.4",
        # 4:4:4 chroma is what lets H.264 store odd sizes.
        "-vf", f"scale={w}:{h},setsar=1,format=yuv444p", "-c:v", "libx264", str(path),
    )  # fmt: skip
    return path


def make_corrupt(path: Path) -> Path:
    """Intra-only mjpeg in AVI with the data of CORRUPT_FRAMES zeroed in place."""
    run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x120:r=25:d={CORRUPT_TOTAL / 25}",
        "-c:v", "mjpeg", "-q:v", "5", str(path),
    )  # fmt: skip
    with av.open(str(path)) as container:
        where = {
            p.pts: (p.pos, p.size) for p in container.demux(video=0) if p.size and p.pts is not None
        }
    data = bytearray(path.read_bytes())
    for index in CORRUPT_FRAMES:
        pos, size = where[index]
        data[pos : pos + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


def make_audio_only(path: Path) -> Path:
    run_ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1", "-c:a", "aac", str(path))
    return path


def _grey(frame: av.VideoFrame) -> float:
    return float(frame.to_ndarray(format="gray").mean())


def find_flash_frames(path: str | Path, threshold: float = 230.0) -> list[int]:
    """Positions (in display order) of decoded pictures whose mean luma is high."""
    with av.open(str(path)) as container:
        return [i for i, f in enumerate(container.decode(video=0)) if _grey(f) > threshold]


def flash_time(path: str | Path, threshold: float = 230.0) -> float:
    """Presentation time in seconds of the first bright picture."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if _grey(frame) > threshold:
                return float(frame.time)
    raise AssertionError(f"no flash in {path}")


def find_beep_time(path: str | Path) -> float:
    """Time in seconds where the audio first reaches half its peak: the beep's onset."""
    times, chunks = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray().astype(np.float64)
            # Planar audio is channels x samples, packed is 1 x (samples*channels).
            mono = np.abs(samples.reshape(-1, frame.samples)).max(axis=0)
            times.append(frame.time + np.arange(frame.samples) / frame.sample_rate)
            chunks.append(mono)
    level, when = np.concatenate(chunks), np.concatenate(times)
    return float(when[np.argmax(level >= level.max() / 2)])


def audio_duration(path: str | Path) -> float:
    """Seconds of decoded audio in the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(f.samples for f in container.decode(stream)) / stream.sample_rate
