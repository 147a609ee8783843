"""Project <-> JSON-able dict. Fractions are stored as "num/den" strings so they stay exact."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from sdhd_studio.core.project import Keyframe, MaskRef, OutputSettings, Project
from sdhd_studio.core.settings import validate
from sdhd_studio.core.source import (
    Analysis,
    AudioInfo,
    Conditioning,
    Fingerprint,
    Source,
    VideoInfo,
)

SCHEMA_VERSION = 1

_FRACTIONS = ("sample_aspect", "avg_rate", "real_rate", "fps")


def project_to_dict(project: Project) -> dict[str, Any]:
    info = project.source.info
    info_dict = {name: getattr(info, name) for name in VideoInfo.__dataclass_fields__}
    info_dict.update({name: str(getattr(info, name)) for name in _FRACTIONS})
    info_dict["audio"] = [vars(a) for a in info.audio]
    info_dict["analysis"] = None if info.analysis is None else vars(info.analysis)
    info_dict["conditioning"] = {
        **vars(info.conditioning),
        "stream_fps": _optional_str(info.conditioning.stream_fps),
    }
    return {
        "schema": SCHEMA_VERSION,
        "source": {
            "path": project.source.path,
            "fingerprint": vars(project.source.fingerprint),
            "info": info_dict,
        },
        "output": {
            **vars(project.output),
            "target_fps": None if project.output.target_fps is None
            else str(project.output.target_fps),
        },
        "defaults": dict(project.defaults),
        "keyframes": [
            {
                "frame": kf.frame,
                "settings": dict(kf.settings),
                "interpolate": sorted(kf.interpolate),
            }
            for kf in project.keyframes
        ],
        "masks": [vars(m) for m in project.masks],
        "cuts": sorted(project.cuts),
    }


def project_from_dict(data: dict[str, Any]) -> Project:
    """Inverse of `project_to_dict`; raises KeyError/TypeError/ValueError on malformed input."""
    src = data["source"]
    info = dict(src["info"])
    info.update({name: Fraction(info[name]) for name in _FRACTIONS})
    info["audio"] = tuple(AudioInfo(**a) for a in info["audio"])
    if info.get("analysis") is not None:
        info["analysis"] = Analysis(**info["analysis"])
    if "conditioning" in info:
        conditioning = dict(info["conditioning"])
        if conditioning["stream_fps"] is not None:
            conditioning["stream_fps"] = Fraction(conditioning["stream_fps"])
        info["conditioning"] = Conditioning(**conditioning)
    source = Source(src["path"], Fingerprint(**src["fingerprint"]), VideoInfo(**info))
    return Project(
        source=source,
        output=_output(data["output"]),
        defaults=validate(data["defaults"]),
        keyframes=tuple(
            Keyframe(k["frame"], validate(k["settings"]), frozenset(k["interpolate"]))
            for k in data["keyframes"]
        ),
        masks=tuple(MaskRef(**m) for m in data["masks"]),
        cuts=frozenset(data.get("cuts", ())),
    )


def _output(data: dict[str, Any]) -> OutputSettings:
    target = data.get("target_fps")
    return OutputSettings(**{**data, "target_fps": None if target is None else Fraction(target)})


def _optional_str(value: Fraction | None) -> str | None:
    return None if value is None else str(value)
