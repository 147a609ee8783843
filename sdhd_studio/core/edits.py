"""Edits to a project. Each takes a project and returns a new one; `History` makes them undoable.

Validation happens here, so a bad edit raises a clear error and leaves the project untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from sdhd_studio.core.errors import ProjectError, SettingError
from sdhd_studio.core.project import Keyframe, MaskRef, OutputSettings, Project
from sdhd_studio.core.settings import SETTINGS, validate
from sdhd_studio.core.source import Source, VideoInfo


def set_keyframe(
    project: Project,
    frame: int,
    settings: Mapping[str, Any] = {},  # noqa: B006 - read only
    interpolate: Iterable[str] = (),
) -> Project:
    """Add a keyframe at `frame`, or merge `settings` into the one already there."""
    project.check_frame(frame)
    values = validate(settings)
    ramps = frozenset(interpolate)
    for name in ramps:
        if name not in SETTINGS or not SETTINGS[name].numeric:
            raise SettingError(f"only numeric settings can be interpolated, not {name!r}")
    old = project.keyframe_at(frame)
    if old is not None:
        values = {**old.settings, **values}
        ramps = old.interpolate | ramps
    keyframe = Keyframe(frame, values, ramps)
    others = [kf for kf in project.keyframes if kf.frame != frame]
    return dataclasses.replace(
        project, keyframes=tuple(sorted([*others, keyframe], key=lambda kf: kf.frame))
    )


def set_ramp(project: Project, frame: int, name: str, on: bool) -> Project:
    """Make the keyframe at `frame` ramp `name` to the next keyframe's value, or hold it."""
    keyframe = project.keyframe_at(frame)
    if keyframe is None:
        raise ProjectError(f"there is no keyframe at frame {frame}")
    if on and (name not in SETTINGS or not SETTINGS[name].numeric):
        raise SettingError(f"only numeric settings can be interpolated, not {name!r}")
    ramps = keyframe.interpolate | {name} if on else keyframe.interpolate - {name}
    changed = dataclasses.replace(keyframe, interpolate=frozenset(ramps))
    return dataclasses.replace(
        project, keyframes=tuple(changed if kf.frame == frame else kf for kf in project.keyframes)
    )


def remove_keyframe(project: Project, frame: int) -> Project:
    if project.keyframe_at(frame) is None:
        raise ProjectError(f"there is no keyframe at frame {frame}")
    return dataclasses.replace(
        project, keyframes=tuple(kf for kf in project.keyframes if kf.frame != frame)
    )


def set_defaults(project: Project, settings: Mapping[str, Any]) -> Project:
    """Change the settings that apply before the first keyframe (the implicit keyframe 0)."""
    return dataclasses.replace(project, defaults={**project.defaults, **validate(settings)})


def set_mask(
    project: Project,
    frame: int,
    digest: str,
    end: int | None = None,
    inpainter: str | None = None,
    *,
    track: bool = False,
    start: int | None = None,
) -> Project:
    """Apply the mask stored under `digest` from `start` (default: `frame`) to `end` (inclusive;
    default: `frame`), held as painted or, with `track`, carried along by optical flow."""
    project.check_frame(frame)
    end = frame if end is None else project.check_frame(end)
    if end < frame:
        raise ProjectError(f"a mask on frame {frame} cannot end earlier, at frame {end}")
    if start is not None and project.check_frame(start) > frame:
        raise ProjectError(f"a mask on frame {frame} cannot start later, at frame {start}")
    if start is not None and start < frame and not track:
        raise ProjectError("only a tracked mask can reach frames before the one it is painted on")
    mask = MaskRef(frame, digest, end, inpainter, track, None if start == frame else start)
    others = [m for m in project.masks if m.frame != frame]
    return dataclasses.replace(
        project, masks=tuple(sorted([*others, mask], key=lambda m: m.frame))
    )


def remove_mask(project: Project, frame: int) -> Project:
    if project.mask_painted_on(frame) is None:
        raise ProjectError(f"there is no mask painted on frame {frame}")
    return dataclasses.replace(project, masks=tuple(m for m in project.masks if m.frame != frame))


def set_cut(project: Project, frame: int, on: bool = True) -> Project:
    """Mark `frame` as the first of a new shot (or unmark it): nothing is interpolated across
    a cut and no keyframe's detail is carried over it."""
    project.check_frame(frame)
    if frame == 0:
        raise ProjectError("frame 0 always starts a shot; a cut goes on a later frame")
    cuts = project.cuts | {frame} if on else project.cuts - {frame}
    return dataclasses.replace(project, cuts=frozenset(cuts))


def add_keyframes(project: Project, every: int, at_cuts: Iterable[int] = ()) -> Project:
    """Add keyframes every `every` frames from 0, at the project's cuts and at each frame of
    `at_cuts`, which become cuts too; keyframes already there keep their settings.

    A new keyframe pins the upscaler in effect at its frame, so that changing one keyframe's
    upscaler later changes that keyframe alone, not every keyframe after it."""
    if every < 1:
        raise ProjectError(f"keyframes need a spacing of at least 1 frame, got {every}")
    cuts = {project.check_frame(c) for c in at_cuts if c > 0}
    frames = set(range(0, project.frame_count, every)) | cuts | project.cuts
    frames -= {kf.frame for kf in project.keyframes}
    added = [Keyframe(f, {"upscaler": project.settings_at(f)["upscaler"]}) for f in frames]
    return dataclasses.replace(
        project,
        keyframes=tuple(sorted([*project.keyframes, *added], key=lambda kf: kf.frame)),
        cuts=project.cuts | frozenset(cuts),
    )


def set_output(project: Project, **changes: Any) -> Project:
    """Change output settings (see `OutputSettings.changed`)."""
    return dataclasses.replace(project, output=project.output.changed(**changes))


def new_project(
    source: Source, output: OutputSettings | None = None, settings: Mapping[str, Any] = {}  # noqa: B006
) -> Project:
    project = Project(source=source, output=output or OutputSettings())
    return set_defaults(project, settings) if settings else project


def set_source_frames(project: Project, info: VideoInfo) -> Project:
    """The source conditioned anew (`core.conditioning.condition`): its frames are counted
    afresh, so keyframes, masks and cuts move to the frames at the same times (a keyframe at
    frame 100 of 25i is at frame 200 once deinterlaced to one frame per field). Where two
    keyframes land on one frame, the later's settings win over the earlier's."""
    old, new = project.source.info, info

    def moved(frame: int) -> int:
        return min(max(round(frame * new.fps / old.fps), 0), new.frame_count - 1)

    keyframes: dict[int, Keyframe] = {}
    for kf in project.keyframes:
        at = moved(kf.frame)
        before = keyframes.get(at)
        settings = {**before.settings, **kf.settings} if before else dict(kf.settings)
        ramps = (before.interpolate if before else frozenset()) | kf.interpolate
        keyframes[at] = Keyframe(at, settings, ramps)
    masks = tuple(
        dataclasses.replace(m, frame=moved(m.frame), end=moved(m.end),
                            start=None if m.start is None else moved(m.start))  # fmt: skip
        for m in project.masks
    )
    return dataclasses.replace(
        project,
        source=dataclasses.replace(project.source, info=info),
        keyframes=tuple(keyframes[f] for f in sorted(keyframes)),
        masks=masks,
        cuts=frozenset(moved(c) for c in project.cuts) - {0},
    )
