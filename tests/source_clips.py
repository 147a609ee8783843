"""Tape, disc and broadcast style test sources made from a progressive ground truth.

The ground truth is the bundled Big Buck Bunny sample taken as field-rate video (each of its
pictures is one field time), so the right answer for every field and film frame is known.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation
from clips import SAMPLE, run_ffmpeg

from sdhd_studio.core.source import VideoInfo
from sdhd_studio.media.analysis import analyse
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr
from sdhd_studio.media.reader import FrameReader

PAL = (720, 576)
NTSC = (720, 480)
PAL_FIELDS = 50  # fields of the PAL clips: 1 s at 25i
NTSC_FIELDS = 60  # fields of the NTSC clips: about 1 s at 29.97i
FILM_FRAMES = 24  # film frames of the telecined clip: 1 s at 23.976p, 30 pictures after 3:2


def make_truth(
    path: Path, size: tuple[int, int], fields: int, rate: str, clip: Path = SAMPLE
) -> Path:
    """`fields` progressive pictures of `clip` at `rate`, one per field time, stored
    losslessly."""
    w, h = size
    run_ffmpeg(
        "-i", str(clip), "-frames:v", str(fields),
        "-vf", f"setpts=N/({rate})/TB,scale={w}:{h}:flags=lanczos,setsar=1", "-r", rate,
        "-an", "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def interlace(
    truth: Path, path: Path, order: str, *codec: str, dar: str = "16/9", audio: bool = False
) -> Path:
    """Weave each pair of truth pictures into one frame, `order` ('tff'/'bff') first; with
    `audio`, a one-second 440 Hz tone in MP2 beside it."""
    tone = ("-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=1", "-c:a", "mp2")
    run_ffmpeg(
        "-i", str(truth), *(tone if audio else ()),
        "-vf", f"interlace=scan={order}:lowpass=off,setfield={order},setdar={dar}",
        *codec, str(path),
    )  # fmt: skip
    return path


def telecine(truth: Path, path: Path, *codec: str) -> Path:
    """3:2 pulldown of 23.976p truth to 29.97i, top field first (as broadcast film is)."""
    run_ffmpeg(
        "-i", str(truth), "-vf", "telecine=first_field=top:pattern=23,setfield=tff,setdar=4/3",
        *codec, str(path),
    )  # fmt: skip
    return path


MPEG2 = ("-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-b:v", "8M", "-g", "12", "-bf", "2")
DV = ("-c:v", "dvvideo", "-pix_fmt", "yuv411p")
H264_INTERLACED = ("-c:v", "libx264", "-flags", "+ilme+ildct", "-crf", "12", "-bf", "2")


BREAK_PICTURES = (13, 15, 10)  # film cut mid-cadence, film restarting its cadence, video


def telecine_with_breaks(film: Path, video: Path, path: Path) -> Path:
    """Telecined film cut after 13 pictures (mid-cadence), the film from frame 12 telecined
    afresh (a new cadence), then 10 pictures of field-rate video: an edited broadcast."""
    a, b, c = BREAK_PICTURES
    graph = (
        f"[0]telecine=first_field=top:pattern=23,trim=end_frame={a},setpts=PTS-STARTPTS[a];"
        f"[1]trim=start_frame=12,setpts=PTS-STARTPTS,telecine=first_field=top:pattern=23,"
        f"trim=end_frame={b}[b];"
        f"[2]trim=end_frame={2 * c},setpts=PTS-STARTPTS,interlace=scan=tff:lowpass=off,"
        "fps=30000/1001[c];[a][b][c]concat=n=3,setfield=tff,setdar=4/3[v]"
    )
    run_ffmpeg("-i", str(film), "-i", str(film), "-i", str(video), "-filter_complex", graph,
               "-map", "[v]", *MPEG2, "-f", "dvd", str(path))  # fmt: skip
    return path


def order_change(truth: Path, path: Path) -> Path:
    """The truth woven top field first, then again bottom field first, in one stream flagged
    top first throughout: two captures edited together."""
    graph = ("[0]split[x][y];[x]interlace=scan=tff:lowpass=off[a];"
             "[y]interlace=scan=bff:lowpass=off[b];[a][b]concat=n=2,setfield=tff[v]")
    run_ffmpeg("-i", str(truth), "-filter_complex", graph, "-map", "[v]", *MPEG2, "-f", "dvd",
               str(path))  # fmt: skip
    return path


def remux(source: Path, path: Path, *args: str) -> Path:
    """`source`'s streams copied into another container."""
    run_ffmpeg("-i", str(source), "-c", "copy", *args, str(path))
    return path


def decoded(path: str | Path) -> list[np.ndarray]:
    """Every picture of `path` in display order, decoded straight with PyAV, as RGB."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def bt601_frames(path: str | Path) -> list[np.ndarray]:
    """Every picture of a BT.601 limited-range file as RGB, converted as the project converts
    an analysed SD source (chroma interpolated at every pixel, exact rounding)."""
    flags = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.ACCURATE_RND
    with av.open(str(path)) as container:
        return [
            f.reformat(format="rgb24", src_colorspace="itu601", src_color_range="MPEG",
                       interpolation=flags).to_ndarray()
            for f in container.decode(video=0)
        ]  # fmt: skip


class Tapes:
    """Makes each named source once, on first use, in `folder`; `truth(name)` is its truth."""

    # name: (file, truth, how it is made)
    MADE = {
        "pal_mkv": ("pal.mkv", "pal", "mpeg2"),
        "pal_mpg": ("pal.mpg", "pal", ("remux", "pal_mkv", "-f", "dvd")),
        "pal_vob": ("pal.vob", "pal", ("remux", "pal_mkv", "-f", "dvd")),
        "pal_ts": ("pal.ts", "pal", ("remux", "pal_mkv")),
        "pal_m2ts": ("pal.m2ts", "pal", ("remux", "pal_mkv", "-mpegts_m2ts_mode", "1")),
        "dv_avi": ("dv.avi", "ntsc", "dv"),
        "dv_mov": ("dv.mov", "ntsc", "dv"),
        "dv_raw": ("raw.dv", "ntsc", "dv"),
        "mpeg4_avi": ("mpeg4.avi", "pal", "mpeg4"),
        "mpeg4_interlaced_avi": ("mpeg4i.avi", "pal", "mpeg4i"),
        "mjpeg_avi": ("mjpeg.avi", "pal", "mjpeg"),
        "h264_ts": ("h264.ts", "pal", "h264"),
        "film_mpg": ("film.mpg", "film", "telecine"),
        "breaks_mpg": ("breaks.mpg", "film", "breaks"),
        "order_change_mpg": ("order_change.mpg", "pal", "order_change"),
    }
    TRUTHS = {
        "pal": (PAL, PAL_FIELDS, "50"),
        "ntsc": (NTSC, NTSC_FIELDS, "60000/1001"),
        "film": (NTSC, FILM_FRAMES, "24000/1001"),
    }

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[str, Path] = {}

    def truth(self, name: str) -> Path:
        key = self.MADE[name][1] if name in self.MADE else name
        if key not in self._made:
            size, fields, rate = self.TRUTHS[key]
            self._made[key] = make_truth(self.folder / f"{key}_truth.mkv", size, fields, rate)
        return self._made[key]

    def __call__(self, name: str) -> str:
        if name not in self._made:
            self._made[name] = self._make(name)
        return str(self._made[name])

    def _make(self, name: str) -> Path:
        file, _, how = self.MADE[name]
        path, truth = self.folder / file, self.truth(name)
        if isinstance(how, tuple):
            return remux(Path(self(how[1])), path, *how[2:])
        if how == "mpeg2":
            return interlace(truth, path, "tff", *MPEG2, audio=True)
        if how == "dv":
            fmt = ("-f", "dv") if path.suffix == ".dv" else ()
            return interlace(truth, path, "bff", *DV, *fmt, dar="4/3", audio=path.suffix != ".dv")
        if how.startswith("mpeg4"):
            mpeg4 = ("-c:v", "mpeg4", "-vtag", "xvid", "-bf", "2", "-g", "12", "-q:v", "3")
            coding = ("-flags", "+ilme+ildct") if how == "mpeg4i" else ()  # field-coded
            return interlace(truth, path, "tff", *mpeg4, *coding)
        if how == "mjpeg":
            return interlace(truth, path, "tff", "-c:v", "mjpeg", "-q:v", "3")
        if how == "h264":
            return interlace(truth, path, "tff", *H264_INTERLACED)
        if how == "order_change":
            return order_change(truth, path)
        if how == "breaks":
            return telecine_with_breaks(truth, self.truth("ntsc"), path)
        return telecine(truth, path, *MPEG2, "-f", "dvd")


def make_dvd(truth: Path, folder: Path, pieces: int = 3) -> Path:
    """A DVD folder: VIDEO_TS with a menu VOB (VTS_01_0), the title split into `pieces` VOBs at
    pack (2048-byte) boundaries as DVD authoring does, and a shorter second title. Returns the
    whole title as one file beside it (`title.vob`), the reference."""
    whole = interlace(truth, folder / "title.vob", "tff", *MPEG2, "-f", "dvd", audio=True)
    video_ts = folder / "DVD" / "VIDEO_TS"
    video_ts.mkdir(parents=True)
    (video_ts / "VIDEO_TS.IFO").write_bytes(bytes(2048))
    run_ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=720x576:r=25:d=0.2", *MPEG2, "-f", "dvd",
               str(video_ts / "VTS_01_0.VOB"))  # fmt: skip
    data = whole.read_bytes()
    packs = len(data) // 2048
    cuts = [round(packs * i / pieces) * 2048 for i in range(pieces + 1)]
    cuts[-1] = len(data)
    for n in range(pieces):
        (video_ts / f"VTS_01_{n + 1}.VOB").write_bytes(data[cuts[n] : cuts[n + 1]])
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=0.4", *MPEG2, "-f", "dvd",
               str(video_ts / "VTS_02_1.VOB"))  # fmt: skip
    return whole


def analysed(path) -> VideoInfo:
    """The file's facts with the analysis a project makes of it."""
    info = probe(path)
    return dataclasses.replace(info, analysis=analyse(path, info))


def read_all(path, info) -> list[np.ndarray]:
    with FrameReader(path, info) as reader:
        return [frame for _, frame in reader.frames()]


def mean_psnr(frames, truth) -> float:
    return float(np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=True)]))
