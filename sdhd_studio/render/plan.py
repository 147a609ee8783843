"""From a project to what each frame needs: its recipe key and the job that would make it.

The recipe holds only what decides a frame's pixels: the source content, the frame index, the
output size, each backend's name and version, the settings that backend declares it uses, and
the mask's digest. A setting no backend of the frame reads changes nothing, so it dirties
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.core.project import MaskRef, Project
from sdhd_studio.core.recipe import RECIPE_VERSION, frame_keys
from sdhd_studio.core.settings import SETTINGS
from sdhd_studio.ml import registry


@dataclass(frozen=True)
class FrameJob:
    """Everything a worker needs to make one frame; an immutable snapshot."""

    index: int
    key: str
    source_path: str
    size: tuple[int, int]  # output (width, height)
    upscaler: str
    upscale_settings: Mapping[str, Any]
    inpainter: str | None = None
    inpaint_settings: Mapping[str, Any] | None = None
    mask_path: str | None = None
    deps: frozenset[str] = frozenset()  # keys of frames this one is made from


@dataclass(frozen=True)
class _Run:
    """Consecutive frames with one recipe apart from the frame index."""

    start: int
    stop: int
    recipe: Mapping[str, Any]
    upscaler: str
    inpainter: str | None
    mask: MaskRef | None


class Plan:
    """Recipe keys for every frame of one project state, and jobs on demand."""

    def __init__(self, project: Project, folder: ProjectFolder) -> None:
        self.project = project
        self.folder = folder
        self._runs: list[_Run] = list(_runs(project))
        self.keys: list[str] = []
        for run in self._runs:
            self.keys.extend(frame_keys(run.recipe, range(run.start, run.stop)))

    def __len__(self) -> int:
        return len(self.keys)

    def job(self, index: int) -> FrameJob:
        run = self._run_of(index)
        up = run.recipe["upscale"]
        inpaint = run.recipe["inpaint"]
        return FrameJob(
            index=index,
            key=self.keys[index],
            source_path=self.project.source.path,
            size=self.project.frame_size,
            upscaler=run.upscaler,
            upscale_settings=dict(up["settings"]),
            inpainter=run.inpainter,
            inpaint_settings=dict(inpaint["settings"]) if inpaint else None,
            mask_path=str(self.folder.mask_path(run.mask.digest)) if run.mask else None,
        )

    def _run_of(self, index: int) -> _Run:
        lo, hi = 0, len(self._runs)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._runs[mid].stop <= index:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self._runs) or not self._runs[lo].start <= index:
            raise IndexError(index)
        return self._runs[lo]


def _runs(project: Project) -> list[_Run]:
    width, height = project.frame_size
    base = {
        "v": RECIPE_VERSION,
        "source": project.source.fingerprint.digest,
        "grid": str(project.source.info.fps),
        "size": [width, height],
    }
    mask_bounds = sorted({m.frame for m in project.masks} | {m.end + 1 for m in project.masks})
    runs = []
    for start, stop, settings in project.settings_runs():
        cuts = [start, *(b for b in mask_bounds if start < b < stop), stop]
        for a, b in zip(cuts, cuts[1:], strict=False):
            mask = project.mask_at(a)
            upscaler = settings["upscaler"]
            inpainter = (mask.inpainter or settings["inpainter"]) if mask else None
            recipe = {
                **base,
                "upscale": _stage("upscale", upscaler, settings),
                "inpaint": {**_stage("inpaint", inpainter, settings), "mask": mask.digest}
                if mask
                else None,
            }
            runs.append(_Run(a, b, recipe, upscaler, inpainter, mask))
    return runs


def _stage(kind: registry.Kind, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    try:
        spec = registry.get(kind, name)
    except BackendError:  # an unknown backend fails its frames at render time, with the reason
        return {"backend": name, "version": None, "settings": {}}
    used = {k: settings.get(k, SETTINGS[k].default) for k in sorted(spec.uses)}
    return {"backend": name, "version": spec.version, "settings": used}
