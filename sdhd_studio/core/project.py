"""The project document: source, output settings, keyframes and masks.

A `Project` is immutable. Edits (see `edits.py`) return a new one, so a render worker can hold a
snapshot while the user keeps editing, and undo is just going back to an earlier value.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from sdhd_studio.core.errors import ProjectError
from sdhd_studio.core.settings import DEFAULTS, SETTINGS
from sdhd_studio.core.source import Source, VideoInfo

MAX_OUTPUT_SIDE = 16384  # beyond what any encoder here takes; a frame would need gigabytes

MAX_AUDIO_TRACKS = 64  # far beyond any real file; a track number past it is a typo
PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow",
)  # fmt: skip


@dataclass(frozen=True)
class OutputSettings:
    """Size, frame rate and encoding of the HD result. Exactly one of `height` and `scale` is
    set; the frame rate is the source's times `fps_multiplier`, or `target_fps` when set."""

    height: int | None = 720
    scale: float | None = None
    fps_multiplier: int = 1
    target_fps: Fraction | None = None
    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
    audio: bool = True
    audio_track: int = 1  # which of the source's audio streams, 1-based

    def __post_init__(self) -> None:
        if (self.height is None) == (self.scale is None):
            raise ProjectError("set exactly one of output height and scale")
        if self.height is not None and not 16 <= self.height <= 8640:
            raise ProjectError(f"output height must be 16-8640 pixels, got {self.height}")
        if self.scale is not None and not 0.25 <= self.scale <= 16:
            raise ProjectError(f"output scale must be 0.25-16, got {self.scale:g}")
        if self.fps_multiplier not in (1, 2, 3, 4):
            raise ProjectError(f"fps multiplier must be 1, 2, 3 or 4, got {self.fps_multiplier}")
        if self.target_fps is not None:
            if self.fps_multiplier != 1:
                raise ProjectError("set either an fps multiplier or a target fps, not both")
            if not 1 <= self.target_fps <= 240:
                raise ProjectError(f"target fps must be 1-240, got {float(self.target_fps):g}")
        if not 0 <= self.crf <= 51:
            raise ProjectError(f"CRF must be 0-51, got {self.crf}")
        if not 1 <= self.audio_track <= MAX_AUDIO_TRACKS:
            raise ProjectError(f"audio track must be 1-{MAX_AUDIO_TRACKS}, got {self.audio_track}")
        if self.preset not in PRESETS:
            raise ProjectError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}")

    def changed(self, **changes: Any) -> OutputSettings:
        """These settings with `changes`; `height` and `scale` replace each other, and so do
        `fps_multiplier` and `target_fps`."""
        if changes.get("height") is not None:
            changes["scale"] = None
        elif changes.get("scale") is not None:
            changes["height"] = None
        if changes.get("target_fps") is not None:
            changes["fps_multiplier"] = 1
        elif changes.get("fps_multiplier") is not None:
            changes["target_fps"] = None
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ProjectError(f"unknown output setting: {exc}") from None

    def fps(self, info: VideoInfo) -> Fraction:
        """The output frame rate."""
        return self.target_fps if self.target_fps is not None else info.fps * self.fps_multiplier

    def frame_size(self, info: VideoInfo) -> tuple[int, int]:
        """Output (width, height): square pixels at the source's display aspect, even sides.

        Non-square SD pixels (DV, DVD) are resolved here, so the HD result looks right on any
        player without relying on aspect flags.
        """
        height = self.height if self.height is not None else info.height * self.scale
        width = height * info.display_aspect
        return _even(width), _even(height)


def check_audio_track(path: str, info: VideoInfo, track: int) -> None:
    """Refuse a track the source does not have. Track 1 of a silent source is the default and
    means no audio."""
    count = len(info.audio)
    if track > max(count, 1):
        raise ProjectError(f"{Path(path).name} has {count} audio track{'' if count == 1 else 's'}"
                           f"; --audio-track {track} names none")


def _even(value: float | Fraction) -> int:
    return max(2, 2 * round(float(value) / 2))


@dataclass(frozen=True)
class Keyframe:
    """Settings that take effect at `frame` and hold until the next keyframe changes them.

    Names in `interpolate` ramp linearly from this keyframe's value to the value set by the
    next keyframe that sets the same name.
    """

    frame: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    interpolate: frozenset[str] = frozenset()


_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_digest(digest: str) -> str:
    """`digest` if it is a sha256 digest. A mask's digest names its file in the project folder:
    anything else could point outside it."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ProjectError(f"a mask digest must be 64 hex digits, got {digest!r:.80}")
    return digest


@dataclass(frozen=True)
class MaskRef:
    """An inpainting mask painted on `frame` and applied to frames `first`..`end` inclusive.

    The PNG lives in the project folder under its content digest. A held mask applies as
    painted; a tracked one (`track`) is carried by optical flow to each frame it covers, which
    may start before the frame it was painted on.
    """

    frame: int
    digest: str
    end: int
    inpainter: str | None = None  # None: the frame's effective `inpainter` setting
    track: bool = False
    start: int | None = None  # first frame covered; None: `frame`

    @property
    def first(self) -> int:
        return self.frame if self.start is None else self.start

    def __post_init__(self) -> None:
        check_digest(self.digest)

    def covers(self, index: int) -> bool:
        return self.first <= index <= self.end


@dataclass(frozen=True)
class SettingSource:
    """Where a setting's value at one frame comes from."""

    keyframe: int | None  # the keyframe that set it; None: the project defaults
    next_set: int | None  # the next keyframe after the frame that sets it
    ramp_to: int | None  # next_set, when the value is ramping towards it at the frame


@dataclass(frozen=True)
class Project:
    source: Source
    output: OutputSettings = OutputSettings()
    defaults: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    keyframes: tuple[Keyframe, ...] = ()  # sorted by frame, at most one per frame
    masks: tuple[MaskRef, ...] = ()  # sorted by frame, at most one per frame
    cuts: frozenset[int] = frozenset()  # frames that start a new shot (never 0)

    def __post_init__(self) -> None:
        width, height = self.frame_size
        if max(width, height) > MAX_OUTPUT_SIDE:
            raise ProjectError(f"the output would be {width}x{height}; at most "
                               f"{MAX_OUTPUT_SIDE} pixels a side")
        check_audio_track(self.source.path, self.source.info, self.output.audio_track)

    @property
    def frame_count(self) -> int:
        return self.source.info.frame_count

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.output.frame_size(self.source.info)

    def check_frame(self, index: int) -> int:
        if not 0 <= index < self.frame_count:
            raise ProjectError(
                f"frame {index} is out of range: the video has {self.frame_count} frames "
                f"(0-{self.frame_count - 1})"
            )
        return index

    def keyframe_at(self, index: int) -> Keyframe | None:
        for kf in self.keyframes:
            if kf.frame == index:
                return kf
        return None

    def keyframe_before(self, index: int) -> Keyframe | None:
        """The keyframe at or before `index` (None: the project defaults apply)."""
        pos = bisect.bisect_right([kf.frame for kf in self.keyframes], index)
        return self.keyframes[pos - 1] if pos else None

    def settings_at(self, index: int) -> dict[str, Any]:
        """Effective settings at one frame."""
        return self.resolve(index)[0]

    def resolve(self, index: int) -> tuple[dict[str, Any], dict[str, SettingSource]]:
        """Effective settings at one frame and where each comes from.

        The same rules as `settings_runs`, in time proportional to the number of keyframes
        (not frames), so the editor can ask on every step of a scrub.
        """
        self.check_frame(index)
        values = {**DEFAULTS, **self.defaults}
        set_by: dict[str, Keyframe] = {}
        next_set: dict[str, Keyframe] = {}
        for kf in self.keyframes:
            if kf.frame <= index:
                values.update(kf.settings)
                set_by.update(dict.fromkeys(kf.settings, kf))
            else:
                for name in kf.settings:
                    next_set.setdefault(name, kf)
        sources = {}
        for name, spec in SETTINGS.items():
            kf, nxt = set_by.get(name), next_set.get(name)
            ramps = kf is not None and nxt is not None and spec.numeric and name in kf.interpolate
            if ramps:
                va, vb = kf.settings[name], nxt.settings[name]
                value = va + (vb - va) * ((index - kf.frame) / (nxt.frame - kf.frame))
                values[name] = round(value) if spec.kind is int else value
            sources[name] = SettingSource(
                kf.frame if kf else None, nxt.frame if nxt else None, nxt.frame if ramps else None
            )
        return values, sources

    def settings_runs(self) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
        """Yield `(start, stop, settings)` covering every frame in order.

        Frames in one run share identical effective settings, so callers can do per-run work
        once; interpolated stretches come out one frame per run.
        """
        bounds = [kf.frame for kf in self.keyframes if kf.frame > 0]
        starts = [0, *bounds]
        stops = [*bounds, self.frame_count]
        current = {**DEFAULTS, **self.defaults}  # a project saved before a setting existed
        origin: dict[str, tuple[int, Any, bool]] = {}  # name -> (frame, value, interpolates)
        for start, stop in zip(starts, stops, strict=True):
            kf = self.keyframe_at(start)
            if kf is not None:
                current.update(kf.settings)
                for name, value in kf.settings.items():
                    origin[name] = (start, value, name in kf.interpolate)
            ramps = self._ramps(origin, stop)
            if not ramps:
                if start < stop:
                    yield start, stop, dict(current)
                continue
            for index in range(start, stop):
                values = dict(current)
                for name, (a, va, b, vb) in ramps.items():
                    t = (index - a) / (b - a)
                    value = va + (vb - va) * t
                    values[name] = round(value) if SETTINGS[name].kind is int else value
                yield index, index + 1, values

    def _ramps(
        self, origin: Mapping[str, tuple[int, Any, bool]], after: int
    ) -> dict[str, tuple[int, Any, int, Any]]:
        """Numeric settings ramping across the run that ends at `after`: name -> (a, va, b, vb)."""
        ramps = {}
        for name, (a, va, interpolates) in origin.items():
            if not interpolates or not SETTINGS[name].numeric:
                continue
            nxt = next(
                (kf for kf in self.keyframes if kf.frame >= after and name in kf.settings), None
            )
            if nxt is not None:
                ramps[name] = (a, va, nxt.frame, nxt.settings[name])
        return ramps

    def mask_painted_on(self, index: int) -> MaskRef | None:
        """The mask painted on frame `index` itself (not one held from an earlier frame)."""
        return next((mask for mask in self.masks if mask.frame == index), None)

    def mask_at(self, index: int) -> MaskRef | None:
        """The mask applied at `index`: of the masks that cover it, the one painted last in the
        video before (or else nearest after) it."""
        covering = [mask for mask in self.masks if mask.covers(index)]
        before = [mask for mask in covering if mask.frame <= index]
        return before[-1] if before else (covering[0] if covering else None)

    def shot_of(self, index: int) -> tuple[int, int]:
        """The (first, stop) frames of the shot holding `index`, as the project's cuts split the
        video."""
        first = max((c for c in self.cuts if c <= index), default=0)
        stop = min((c for c in self.cuts if c > index), default=self.frame_count)
        return first, stop
