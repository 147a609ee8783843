"""Source conditioning: which frames the project is made of, from the user's choices and the
analysis (deinterlace to one frame per field, one per picture, or not at all; which colour
matrix and range the pictures are decoded with)."""

from __future__ import annotations

import dataclasses

from sdhd_studio.core.errors import SettingError
from sdhd_studio.core.source import (
    COLOUR_MATRICES,
    DEINTERLACE_MODES,
    FIELD_ORDERS,
    Conditioning,
    VideoInfo,
)

_CHOICES = {
    "field_order": FIELD_ORDERS,
    "deinterlace": DEINTERLACE_MODES,
    "colour_matrix": COLOUR_MATRICES,
}


def condition(
    info: VideoInfo,
    *,
    field_order: str = "auto",
    deinterlace: str = "auto",
    colour_matrix: str = "auto",
) -> VideoInfo:
    """`info` with the project's frames made as chosen: `fps`, `frame_count` and `duration`
    count conditioned frames (25i deinterlaced `double` is 50 fps) and `conditioning` says how.

    "auto" follows `info.analysis`: interlaced or telecined pictures become one frame per
    field, progressive ones stay as they are. Raises SettingError for an unknown choice.
    """
    chosen = {"field_order": field_order, "deinterlace": deinterlace,
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
    order = field_order
    if order == "auto":
        order = analysis.field_order if analysis is not None else "progressive"
    mode = "progressive"
    if order != "progressive" and deinterlace != "off":
        mode = "single" if deinterlace == "single" else "double"
    matrix = colour_matrix
    if matrix == "auto":
        matrix = analysis.matrix if analysis is not None else _standard_matrix(info)
    full_range = analysis.full_range if analysis is not None else info.pix_fmt.startswith("yuvj")
    conditioning = Conditioning(
        field_order=field_order,
        deinterlace=deinterlace,
        colour_matrix=colour_matrix,
        mode=mode,
        order=order if mode != "progressive" else "tff",
        matrix=matrix,
        full_range=full_range,
        stream_fps=stream_fps,
        stream_frames=stream_frames,
    )
    per = conditioning.fields_per_frame
    return dataclasses.replace(
        info,
        fps=stream_fps * per,
        frame_count=stream_frames * per,
        duration=float(stream_frames / stream_fps),
        conditioning=conditioning,
    )


def _standard_matrix(info: VideoInfo) -> str:
    return "bt709" if min(info.width, info.height) > 576 else "bt601"
