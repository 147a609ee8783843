"""The video encoders an export can use, and which of them work on this machine.

Builds of ffmpeg list NVENC, Quick Sync, AMF and VA-API whether or not the machine has the
hardware and drivers, so a hardware encoder is offered only after a tiny real encode with the
exact options an export would use has succeeded.
"""

from __future__ import annotations

import functools
import glob
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ffmpeg

from sdhd_studio.core.errors import ExportError
from sdhd_studio.core.project import PRESETS
from sdhd_studio.media.ffmpeg import ffmpeg_exe, log_message, video_encoders

_SOFTWARE = ("x264", "x265", "vpx", "svtav1")
# Families whose encoders have no speed setting the x264 preset names could map to.
_NO_PRESETS = ("videotoolbox", "vaapi")
_PROBE_TIMEOUT = 15.0  # seconds; a first CUDA initialisation alone can take a few
_PROBE_SOURCE = "color=c=gray:s=256x256:r=25,format=rgb24"  # what the writer pipes: RGB
# The ffmpeg codec each catalogue name prefix makes ("h265-nvenc" makes hevc).
_CODECS = {"h264": "h264", "h265": "hevc", "vp9": "vp9", "av1": "av1"}
# The HD output's colour: the writer pipes full-range RGB, which is converted with the BT.709
# matrix to limited-range Y'CbCr (ffmpeg's default would be BT.601) and tagged as such. ffmpeg 7
# and later tag the stream with what the frames say (setparams); older ones with the options.
_BT709_TAGS = {
    "color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv",
}
_TO_BT709 = (
    "scale=out_color_matrix=bt709:out_range=tv,"
    "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
)


@dataclass(frozen=True)
class Encoder:
    name: str  # what users, the CLI and project files say: "h264", "h265-nvenc"
    label: str  # what the export dialog shows
    ffmpeg_name: str  # "libx264", "hevc_nvenc"
    family: str  # decides how CRF and preset map to ffmpeg options

    @property
    def hardware(self) -> bool:
        return self.family not in _SOFTWARE

    @property
    def codec(self) -> str:
        """The ffmpeg name of the format it makes: h264, hevc, vp9 or av1."""
        return _CODECS[self.name.split("-")[0]]

    @property
    def hevc(self) -> bool:
        return self.codec == "hevc"

    @property
    def has_presets(self) -> bool:
        """Whether the speed preset changes anything for this encoder."""
        return self.family not in _NO_PRESETS


_VENDORS = (
    ("nvenc", "NVIDIA NVENC"),
    ("qsv", "Intel Quick Sync"),
    ("videotoolbox", "Apple VideoToolbox"),
    ("vaapi", "VA-API"),
    ("amf", "AMD AMF"),
)
ENCODERS: tuple[Encoder, ...] = (
    Encoder("h264", "H.264 (x264, software)", "libx264", "x264"),
    Encoder("h265", "H.265 (x265, software)", "libx265", "x265"),
    Encoder("vp9", "VP9 (libvpx, software)", "libvpx-vp9", "vpx"),
    Encoder("av1", "AV1 (SVT-AV1, software)", "libsvtav1", "svtav1"),
    *(
        Encoder(f"{name}-{family}", f"{title} ({vendor})", f"{prefix}_{family}", family)
        for family, vendor in _VENDORS
        for name, title, prefix in (("h264", "H.264", "h264"), ("h265", "H.265", "hevc"))
    ),
)

# x264's nine preset names spread over each encoder's own speed steps, "medium" on its default.
_NVENC_PRESETS = dict(zip(PRESETS, ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"),
                          strict=True))
_QSV_PRESETS = {"ultrafast": "veryfast", "superfast": "veryfast"}
_AMF_QUALITY = dict(zip(PRESETS, ("speed",) * 4 + ("balanced",) * 2 + ("quality",) * 3,
                        strict=True))
# libvpx's --cpu-used (0 slowest to 5 with the "good" deadline) and SVT-AV1's preset (0 slowest
# to 13); "medium" sits where each is commonly used for HD.
_VPX_SPEEDS = dict(zip(PRESETS, ("5", "5", "5", "4", "4", "3", "2", "1", "0"), strict=True))
_SVTAV1_PRESETS = dict(zip(PRESETS, ("12", "11", "10", "9", "9", "8", "6", "5", "4"),
                           strict=True))


def output_options(encoder: Encoder, crf: int, preset: str) -> dict[str, str]:
    """ffmpeg output options (as ffmpeg-python keywords) for CRF 0-51 and an x264 preset name.

    Every encoder gets RGB converted to BT.709 limited-range Y'CbCr, tagged. A preset name the
    mapping does not know is passed on as it is, so ffmpeg names the mistake.
    """
    options = {"c:v": encoder.ffmpeg_name, "pix_fmt": "yuv420p", "vf": _TO_BT709,
               **_BT709_TAGS}
    family = encoder.family
    if family in ("x264", "x265"):
        options.update(crf=str(crf), preset=preset)
        if family == "x265":
            options["x265-params"] = "log-level=error"  # x265 logs every encode otherwise
    elif family == "vpx":
        # VP9 and AV1 count quality 0-63; without -b:v 0 libvpx would cap it at a bitrate.
        options.update({"crf": str(_crf63(crf)), "b:v": "0", "deadline": "good",
                        "cpu-used": _VPX_SPEEDS.get(preset, preset), "row-mt": "1"})
    elif family == "svtav1":
        options.update(crf=str(_crf63(crf)), preset=_SVTAV1_PRESETS.get(preset, preset))
    elif family == "nvenc":
        # CQ 0 means "automatic" to NVENC, not lossless; without -b:v 0 its default 2 Mbit/s
        # would cap the quality asked for.
        options.update({"rc": "vbr", "cq": str(max(crf, 1)), "b:v": "0",
                        "preset": _NVENC_PRESETS.get(preset, preset)})
    elif family == "qsv":
        # Quick Sync takes NV12 only; global_quality without a bitrate selects its ICQ mode.
        options.update(pix_fmt="nv12", global_quality=str(max(crf, 1)),
                       preset=_QSV_PRESETS.get(preset, preset))
    elif family == "videotoolbox":
        options["q:v"] = str(videotoolbox_quality(crf))
    elif family == "amf":
        qp = str(crf)
        options.update(rc="cqp", qp_i=qp, qp_p=qp, quality=_AMF_QUALITY.get(preset, preset))
        if not encoder.hevc:
            options["qp_b"] = qp  # H.264 AMF may use B-frames; HEVC AMF has no such option
    elif family == "vaapi":
        del options["pix_fmt"]  # frames go to the GPU as NV12 surfaces instead
        options.update(vf=f"{_TO_BT709},format=nv12,hwupload", rc_mode="CQP",
                       qp=str(max(crf, 1)))
    else:
        raise ValueError(f"unknown encoder family {family!r}")
    return options


def _crf63(crf: int) -> int:
    """x264's CRF scale (0-51) spread over the 0-63 of VP9 and AV1."""
    return round(crf * 63 / 51)


def videotoolbox_quality(crf: int) -> int:
    """VideoToolbox's 1-100 quality (higher is better) for a CRF (lower is better)."""
    return min(100, max(1, round((51 - crf) * 100 / 51)))


def device_args(encoder: Encoder) -> list[str]:
    """Global ffmpeg arguments that open the device an encoder needs (VA-API only)."""
    if encoder.family != "vaapi":
        return []
    node = _render_node()
    return ["-vaapi_device", node] if node else []


def _render_node() -> str | None:
    nodes = sorted(glob.glob("/dev/dri/renderD*"))
    return nodes[0] if nodes else None


def find_encoder(name: str) -> Encoder | None:
    """The catalogue entry called `name`; ffmpeg's own name ("libx264") is accepted too."""
    for encoder in ENCODERS:
        if name in (encoder.name, encoder.ffmpeg_name):
            return encoder
    return None


@functools.cache
def problem(encoder: Encoder) -> str | None:
    """Why `encoder` cannot encode on this machine, or None when it can (asked once)."""
    if encoder.ffmpeg_name not in video_encoders():
        return f"this ffmpeg has no {encoder.ffmpeg_name} encoder"
    if not encoder.hardware:
        return None
    if encoder.family == "vaapi" and _render_node() is None:
        return "there is no VA-API render device (/dev/dri/renderD*)"
    return trial_encode(encoder)


def trial_encode(encoder: Encoder) -> str | None:
    """Encode two small frames with the options an export would use; None when that worked."""
    args = (
        ffmpeg.input(_PROBE_SOURCE, f="lavfi")
        .output("-", f="null", frames="2", **output_options(encoder, 18, "medium"))
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin", *device_args(encoder))
        .compile(cmd=ffmpeg_exe())
    )
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, errors="replace", timeout=_PROBE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return f"a test encode did not finish within {_PROBE_TIMEOUT:g} s"
    except OSError as exc:
        return f"could not start ffmpeg: {exc}"
    if done.returncode == 0:
        return None
    lines = [log_message(line) for line in done.stderr.splitlines()]
    first = next((line for line in lines if line), "")
    return first or f"a test encode failed (exit status {done.returncode})"


def usable(encoders: tuple[Encoder, ...]) -> list[Encoder]:
    """Those of `encoders` that work here, in the given order; hardware ones are tried at once."""
    video_encoders()  # asked once here rather than by every probe at the same time
    with ThreadPoolExecutor(max_workers=len(encoders) or 1) as pool:
        problems = list(pool.map(problem, encoders))
    return [encoder for encoder, why in zip(encoders, problems, strict=True) if why is None]


def available_encoders() -> list[Encoder]:
    """The catalogue entries that work with this ffmpeg on this machine (probed once)."""
    return list(_available())


@functools.cache
def _available() -> tuple[Encoder, ...]:
    return tuple(usable(ENCODERS))


def encoder_for(name: str) -> Encoder:
    """The encoder an export asked for by name; ExportError says why it cannot be used."""
    encoder = find_encoder(name)
    if encoder is None:
        raise ExportError(f"there is no video encoder named {name!r}; use one of: {_names()}")
    why = problem(encoder)
    if why is not None:
        raise ExportError(f"{encoder.label} cannot be used here ({why}); use one of: {_names()}")
    return encoder


def _names() -> str:
    return ", ".join(encoder.name for encoder in available_encoders())
