"""Project <-> JSON-able dict. Fractions are stored as "num/den" strings so they stay exact."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any, NoReturn

from sdhd_studio.core.errors import ProjectError, SettingError
from sdhd_studio.core.project import (
    MAX_AUDIO_TRACKS,
    Keyframe,
    MaskRef,
    OutputSettings,
    Project,
)
from sdhd_studio.core.settings import SETTINGS, validate
from sdhd_studio.core.source import (
    COLOUR_MATRICES,
    DEINTERLACE_MODES,
    FIELD_ORDERS,
    IVTC_MODES,
    Analysis,
    AudioInfo,
    Conditioning,
    Fingerprint,
    Source,
    VideoInfo,
)

SCHEMA_VERSION = 1

_FRACTIONS = ("sample_aspect", "avg_rate", "real_rate", "fps")
# Bounds on what a document may hold: far beyond any real video, near enough that no loop over
# frames or entries can run for hours on a crafted file.
MAX_FRAMES = 50_000_000  # 23 days at 25 fps
MAX_SIDE = 16384
MAX_FPS = Fraction(1000)
MAX_ITEMS = 1_000_000
MAX_DOCUMENT_TEXT = 64 << 20


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


class InvalidDocument(ValueError):
    """project.json holds something a project cannot: the message says what and where."""


def project_from_dict(data: Any) -> Project:
    """Inverse of `project_to_dict`, checking every value's type and range on the way in, so a
    damaged or crafted document is refused in one line (InvalidDocument) rather than crashing
    or stalling whatever reads the project later."""
    try:
        return _project(_Reader(data, "project"))
    except (ProjectError, SettingError) as exc:
        raise InvalidDocument(str(exc)) from None


def _project(doc: _Reader) -> Project:
    src = doc.get("source", dict)
    info = src.get("info", dict)
    count = info.integer("frame_count", 1, MAX_FRAMES)
    source = Source(
        src.text("path", nonempty=True),
        Fingerprint(**{
            "size": src.get("fingerprint", dict).integer("size", 0, 2**63 - 1),
            "digest": src.get("fingerprint", dict).text("digest", nonempty=True),
            "mtime_ns": src.get("fingerprint", dict).integer("mtime_ns", -(2**63), 2**63 - 1),
        }),
        VideoInfo(
            width=info.integer("width", 1, MAX_SIDE),
            height=info.integer("height", 1, MAX_SIDE),
            sample_aspect=info.fraction("sample_aspect", Fraction(1, 100), Fraction(100)),
            rotation=info.choice("rotation", (0, 90, 180, 270)),
            pix_fmt=info.text("pix_fmt"),
            codec=info.text("codec"),
            avg_rate=info.fraction("avg_rate", Fraction(0), MAX_FPS),
            real_rate=info.fraction("real_rate", Fraction(0), MAX_FPS),
            fps=info.fraction("fps", Fraction(1, 1000), MAX_FPS, strict_low=True),
            frame_count=count,
            duration=info.number("duration", 0, 1e9),
            start_time=info.number("start_time", -1e9, 1e9),
            vfr=info.get("vfr", bool),
            audio=tuple(_audio(a) for a in info.items("audio")),
            analysis=_analysis(info.get("analysis", dict, optional=True)),
            conditioning=_conditioning(info.get("conditioning", dict, optional=True)),
        ),
    )
    grid = source.info.frame_count / source.info.fps
    if abs(source.info.duration - grid) > 0.01 * grid + 0.1:
        raise InvalidDocument(f"project.source.info says {count} frames at "
                              f"{float(source.info.fps):g} fps, which do not last "
                              f"{source.info.duration:g} s")
    out = doc.get("output", dict)
    out.only(OutputSettings.__dataclass_fields__)
    target = out.get("target_fps", str, optional=True)
    output = OutputSettings(
        height=out.get("height", int, optional=True),
        scale=out.number("scale", 0, 1e6) if out.has("scale") else None,
        fps_multiplier=out.integer("fps_multiplier", 1, 4),
        target_fps=None if target is None else out.fraction("target_fps", Fraction(1), MAX_FPS),
        codec=out.text("codec", nonempty=True),
        crf=out.integer("crf", 0, 51),
        preset=out.text("preset"),
        audio=out.get("audio", bool),
        # Projects made before the track could be chosen took the first.
        audio_track=out.integer("audio_track", 1, MAX_AUDIO_TRACKS)
        if out.has("audio_track") else 1,
    )
    keyframes = []
    for kf in doc.items("keyframes"):
        kf.only(("frame", "settings", "interpolate"))
        frame = kf.integer("frame", 0, count - 1)
        settings = validate(kf.get("settings", dict).value)
        ramps = frozenset(r.value for r in kf.items("interpolate", str))
        unknown = sorted(ramps - {name for name in settings if SETTINGS[name].numeric})
        if unknown:
            raise InvalidDocument(f"{kf.where}.interpolate names {unknown[0]!r}, which is not a "
                                  "numeric setting of that keyframe")
        keyframes.append(Keyframe(frame, settings, ramps))
    masks = []
    for m in doc.items("masks"):
        m.only(MaskRef.__dataclass_fields__)
        frame = m.integer("frame", 0, count - 1)
        start = m.get("start", int, optional=True)
        first = frame if start is None else m.integer("start", 0, frame)
        masks.append(MaskRef(
            frame=frame,
            digest=m.text("digest"),
            end=m.integer("end", first, count - 1),
            inpainter=m.get("inpainter", str, optional=True),
            track=m.get("track", bool, optional=True) or False,
            start=start,
        ))
    cuts = frozenset(c.integer_value(1, count - 1) for c in doc.items("cuts", int, optional=True))
    for what, frames in (("keyframes", [k.frame for k in keyframes]),
                         ("masks", [m.frame for m in masks])):
        if len(set(frames)) != len(frames):
            raise InvalidDocument(f"project.{what} has two on one frame")
    return Project(
        source=source,
        output=output,
        defaults=validate(doc.get("defaults", dict).value),
        keyframes=tuple(sorted(keyframes, key=lambda k: k.frame)),
        masks=tuple(sorted(masks, key=lambda m: m.frame)),
        cuts=cuts,
    )


def _audio(a: _Reader) -> AudioInfo:
    duration = a.get("duration", (int, float), optional=True)
    return AudioInfo(
        index=a.integer("index", 0, 10_000),
        codec=a.text("codec"),
        sample_rate=a.integer("sample_rate", 0, 10_000_000),
        channels=a.integer("channels", 0, 1024),
        start_time=a.number("start_time", -1e9, 1e9),
        duration=None if duration is None else a.number("duration", 0, 1e9),
        language=a.get("language", str, optional=True),
    )


def _analysis(a: _Reader | None) -> Analysis | None:
    if a is None:
        return None
    a.only(Analysis.__dataclass_fields__)
    return Analysis(
        scan=a.choice("scan", ("progressive", "interlaced", "telecined", "mixed")),
        field_order=a.text("field_order"),
        flagged_order=a.text("flagged_order"),
        cadence=a.text("cadence"),
        comb=a.number("comb", -1e9, 1e9),
        sampled=a.integer("sampled", 0, MAX_FRAMES),
        matrix=a.choice("matrix", ("bt601", "bt709")),
        full_range=a.get("full_range", bool),
        primaries=a.text("primaries"),
        transfer=a.text("transfer"),
        colour_tagged=a.get("colour_tagged", bool),
    )


def _conditioning(c: _Reader | None) -> Conditioning:
    if c is None:  # a project made before sources were conditioned
        return Conditioning()
    c.only(Conditioning.__dataclass_fields__)
    frames = c.get("stream_frames", int, optional=True)
    return Conditioning(
        field_order=c.choice("field_order", FIELD_ORDERS),
        deinterlace=c.choice("deinterlace", DEINTERLACE_MODES),
        ivtc=c.choice("ivtc", IVTC_MODES),
        colour_matrix=c.choice("colour_matrix", COLOUR_MATRICES),
        mode=c.choice("mode", ("progressive", "double", "single", "ivtc")),
        order=c.choice("order", ("tff", "bff")),
        matrix=c.choice("matrix", ("", "bt601", "bt709")),
        full_range=c.get("full_range", bool),
        stream_fps=c.fraction("stream_fps", Fraction(1, 1000), MAX_FPS, strict_low=True)
        if c.has("stream_fps") else None,
        stream_frames=None if frames is None else c.integer("stream_frames", 1, MAX_FRAMES),
        # The film frames' fields, packed (core.conditioning.encode_map): long for long films.
        telecine=c.text("telecine", limit=MAX_DOCUMENT_TEXT),
        motion=c.get("motion", bool),
    )


class _Reader:
    """One value of the document and where it sits (`project.keyframes[2].frame`), with typed
    accessors that raise InvalidDocument naming that place."""

    def __init__(self, value: Any, where: str) -> None:
        self.value, self.where = value, where

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def _field(self, key: str, optional: bool) -> Any:
        if not isinstance(self.value, dict):
            self._bad("an object")
        if key not in self.value or self.value[key] is None:
            if optional:
                return None
            raise InvalidDocument(f"{self.where}.{key} is missing")
        return self.value[key]

    def get(self, key: str, kind: Any, optional: bool = False) -> Any:
        value = self._field(key, optional)
        if value is None:
            return None
        if isinstance(value, bool) and kind is not bool and bool not in _tuple(kind):
            _Reader(value, f"{self.where}.{key}")._bad(_NAMES.get(kind, "a value"))
        if not isinstance(value, kind):
            _Reader(value, f"{self.where}.{key}")._bad(_NAMES.get(kind, "a value"))
        return _Reader(value, f"{self.where}.{key}") if kind is dict else value

    def only(self, known: Any) -> None:
        extra = sorted(str(k) for k in self.value if k not in known)
        if extra:
            raise InvalidDocument(f"{self.where} has an unknown field {extra[0]!r:.60}")

    def text(self, key: str, nonempty: bool = False, limit: int = 4096) -> str:
        value = self.get(key, str)
        if len(value) > limit or "\0" in value or (nonempty and not value):
            _Reader(value, f"{self.where}.{key}")._bad("a short, non-empty text")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        return _Reader(self.get(key, int), f"{self.where}.{key}").integer_value(low, high)

    def integer_value(self, low: int, high: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int) \
                or not low <= self.value <= high:
            self._bad(f"an integer from {low} to {high}")
        return self.value

    def number(self, key: str, low: float, high: float) -> float:
        value = self.get(key, (int, float))
        if not (math.isfinite(value) and low <= value <= high):
            _Reader(value, f"{self.where}.{key}")._bad(f"a number from {low:g} to {high:g}")
        return float(value)

    def fraction(
        self, key: str, low: Fraction, high: Fraction, strict_low: bool = False
    ) -> Fraction:
        text = self.get(key, str)
        try:
            value = Fraction(text) if len(text) <= 64 else None
        except (ValueError, ZeroDivisionError):
            value = None
        if value is None or value > high or value < low or (strict_low and value == low):
            _Reader(text, f"{self.where}.{key}")._bad(
                f"a fraction from {float(low):g} to {float(high):g} such as \"30000/1001\"")
        return value

    def choice(self, key: str, choices: tuple[Any, ...]) -> Any:
        value = self.get(key, type(choices[0]))
        if value not in choices:
            _Reader(value, f"{self.where}.{key}")._bad(f"one of {choices}")
        return value

    def items(self, key: str, kind: Any = dict, optional: bool = False) -> list[_Reader]:
        values = self.get(key, list, optional)
        if values is None:
            return []
        if len(values) > MAX_ITEMS:
            raise InvalidDocument(f"{self.where}.{key} has more than {MAX_ITEMS} entries")
        readers = [_Reader(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(values)]
        for reader in readers:
            if isinstance(reader.value, bool) or not isinstance(reader.value, kind):
                reader._bad(_NAMES.get(kind, "a value"))
        return readers

    def _bad(self, expected: str) -> NoReturn:
        shown = json.dumps(self.value, default=str)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise InvalidDocument(f"{self.where} must be {expected}, got {shown}")


def _tuple(kind: Any) -> tuple[Any, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_NAMES = {dict: "an object", list: "a list", str: "text", int: "an integer", bool: "true or false",
          (int, float): "a number"}


def _optional_str(value: Fraction | None) -> str | None:
    return None if value is None else str(value)
