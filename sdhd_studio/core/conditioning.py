"""Source conditioning: which frames the project is made of, from the user's choices and the
analysis (telecined film back to film frames; deinterlace to one frame per field, one per
picture, or not at all; which colour matrix and range the pictures are decoded with)."""

from __future__ import annotations

import base64
import dataclasses
import zlib
from fractions import Fraction

import numpy as np

from sdhd_studio.core.errors import SettingError
from sdhd_studio.core.source import (
    COLOUR_MATRICES,
    DEINTERLACE_MODES,
    FIELD_ORDERS,
    IVTC_MODES,
    Conditioning,
    VideoInfo,
)

# Added to a telecine map's match code when the film frame is deinterlaced instead of woven.
DEINTERLACE = 3
# Picture rates 3:2 pulldown makes (NTSC and its whole-number twin), and how near counts.
_PULLDOWN_RATES = (Fraction(30000, 1001), Fraction(30))
_RATE_TOLERANCE = 0.01

_CHOICES = {
    "field_order": FIELD_ORDERS,
    "deinterlace": DEINTERLACE_MODES,
    "ivtc": IVTC_MODES,
    "colour_matrix": COLOUR_MATRICES,
}


def condition(
    info: VideoInfo,
    *,
    field_order: str = "auto",
    deinterlace: str = "auto",
    ivtc: str = "auto",
    colour_matrix: str = "auto",
    telecine: str = "",
) -> VideoInfo:
    """`info` with the project's frames made as chosen: `fps`, `frame_count` and `duration`
    count conditioned frames (25i deinterlaced `double` is 50 fps) and `conditioning` says how.

    "auto" follows `info.analysis`: telecined film is brought back to its film frames,
    interlaced pictures become one frame per field, progressive ones stay as they are. Inverse
    telecine needs the `telecine` map (`media.telecine.telecine_map`) when `wants_ivtc` says
    so. Raises SettingError for an unknown choice.
    """
    chosen = {"field_order": field_order, "deinterlace": deinterlace, "ivtc": ivtc,
              "colour_matrix": colour_matrix}  # fmt: skip
    for name, value in chosen.items():
        if value not in _CHOICES[name]:
            options = ", ".join(_CHOICES[name])
            raise SettingError(f"--{name.replace('_', '-')} must be one of {options}, "
                                  f"not {value!r}")  # fmt: skip
    before = info.conditioning
    stream_fps = before.stream_fps or info.fps
    stream_frames = before.stream_frames or info.frame_count
    analysis = info.analysis
    order = resolve_field_order(info, field_order)
    mode = "progressive"
    if wants_ivtc(info, field_order=field_order, deinterlace=deinterlace, ivtc=ivtc):
        if not telecine:
            raise SettingError("inverse telecine needs the source's telecine map")
        mode = "ivtc"
    elif order != "progressive" and deinterlace != "off":
        mode = "single" if deinterlace == "single" else "double"  # "mc" is double, refined
    matrix = colour_matrix
    if matrix == "auto":
        matrix = analysis.matrix if analysis is not None else _standard_matrix(info)
    full_range = analysis.full_range if analysis is not None else info.pix_fmt.startswith("yuvj")
    conditioning = Conditioning(
        field_order=field_order,
        deinterlace=deinterlace,
        ivtc=ivtc,
        colour_matrix=colour_matrix,
        mode=mode,
        order=order if mode != "progressive" else "tff",
        matrix=matrix,
        full_range=full_range,
        stream_fps=stream_fps,
        stream_frames=stream_frames,
        telecine=telecine if mode == "ivtc" else "",
        motion=mode == "double" and deinterlace == "mc",
    )
    if mode == "ivtc":
        # Four film frames in every five pictures: 29.97 -> 23.976.
        fps, count = stream_fps * Fraction(4, 5), len(decode_map(telecine)[0])
    else:
        per = conditioning.fields_per_frame
        fps, count = stream_fps * per, stream_frames * per
    return dataclasses.replace(
        info,
        fps=fps,
        frame_count=count,
        duration=float(stream_frames / stream_fps),
        conditioning=conditioning,
    )


def wants_ivtc(info: VideoInfo, *, field_order: str, deinterlace: str, ivtc: str) -> bool:
    """Whether these choices bring the source back to film frames (which needs its map).

    3:2 pulldown makes 29.97 (or 30) pictures a second from film; asked of another rate
    (`--ivtc on` on PAL, whose film is 2:2 and needs no inverse telecine) it is a SettingError.
    """
    if ivtc == "off" or deinterlace == "off":
        return False
    if resolve_field_order(info, field_order) == "progressive":
        return False
    rate = info.conditioning.stream_fps or info.fps
    if not any(abs(rate / ntsc - 1) < _RATE_TOLERANCE for ntsc in _PULLDOWN_RATES):
        if ivtc == "on":
            raise SettingError(
                f"inverse telecine undoes 3:2 pulldown, which makes 29.97 pictures a second; "
                f"this source has {float(rate):.3g} (PAL film is shown frame for frame: nothing to "
                "undo)")
        return False
    # Film with video-rate parts ("mixed" with a cadence) too: the video parts are deinterlaced.
    return ivtc == "on" or (info.analysis is not None and info.analysis.cadence == "3:2")


def encode_map(pictures: np.ndarray, codes: np.ndarray) -> str:
    """The telecine map as text for the project file: per film frame, the picture whose first
    field it keeps (as steps, which repeat) and how its other field is found."""
    data = np.stack([np.diff(pictures, prepend=0), codes]).astype("<i4").tobytes()
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def decode_map(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(picture, match code) of every film frame, from `encode_map`'s text."""
    data = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<i4").reshape(2, -1)
    return np.cumsum(data[0]), data[1].copy()


def resolve_field_order(info: VideoInfo, choice: str) -> str:
    if choice != "auto":
        return choice
    if info.analysis is None:
        return "progressive"
    if info.analysis.field_order == "changes":
        raise SettingError(
            "the field order changes partway through the source (top field first in places, "
            "bottom first in others); choose one with --field-order tff or bff"
        )
    return info.analysis.field_order


def _standard_matrix(info: VideoInfo) -> str:
    return "bt709" if min(info.width, info.height) > 576 else "bt601"
