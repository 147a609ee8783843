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
from sdhd_studio.core.source import Source


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
    project: Project, frame: int, digest: str, end: int | None = None, inpainter: str | None = None
) -> Project:
    """Apply the mask stored under `digest` from `frame` to `end` (inclusive; default: `frame`)."""
    project.check_frame(frame)
    end = frame if end is None else project.check_frame(end)
    if end < frame:
        raise ProjectError(f"a mask on frame {frame} cannot end earlier, at frame {end}")
    mask = MaskRef(frame, digest, end, inpainter)
    others = [m for m in project.masks if m.frame != frame]
    return dataclasses.replace(
        project, masks=tuple(sorted([*others, mask], key=lambda m: m.frame))
    )


def remove_mask(project: Project, frame: int) -> Project:
    if project.mask_painted_on(frame) is None:
        raise ProjectError(f"there is no mask painted on frame {frame}")
    return dataclasses.replace(project, masks=tuple(m for m in project.masks if m.frame != frame))


def set_output(project: Project, **changes: Any) -> Project:
    """Change output settings; `height` and `scale` replace each other."""
    if changes.get("height") is not None:
        changes["scale"] = None
    elif changes.get("scale") is not None:
        changes["height"] = None
    try:
        output = dataclasses.replace(project.output, **changes)
    except TypeError as exc:
        raise ProjectError(f"unknown output setting: {exc}") from None
    return dataclasses.replace(project, output=output)


def new_project(
    source: Source, output: OutputSettings | None = None, settings: Mapping[str, Any] = {}  # noqa: B006
) -> Project:
    project = Project(source=source, output=output or OutputSettings())
    return set_defaults(project, settings) if settings else project
