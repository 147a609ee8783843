"""From a project to what each frame needs: its recipe key and the job that would make it.

The recipe holds only what decides a frame's pixels: the source content, the frame index, the
output size, each backend's name and version, the settings that backend declares it uses, and
the mask. A setting no backend of the frame reads changes nothing, so it dirties nothing.

Frames made from other frames name those frames' keys in their recipes, so a change flows
exactly as far as it should:
- a guided frame (mode `guided`, not a keyframe) names the keys of the keyframes on either
  side of it in its shot, whose detail it receives;
- an in-between frame of frame-rate conversion names the keys of the two frames it sits
  between;
- a tracked mask carried to a frame has its own recipe (painted mask, from which frame, to
  which frame), and the frame's recipe names that key instead of the painted mask's digest.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sdhd_studio.core.errors import BackendError
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.core.project import MaskRef, Project
from sdhd_studio.core.recipe import RECIPE_VERSION, frame_keys, recipe_key, slot_keys
from sdhd_studio.core.settings import SETTINGS
from sdhd_studio.core.timing import Position, output_positions
from sdhd_studio.ml import registry

# Bump when the algorithms behind these derived results change their output (ml/guide.py,
# ml/track.py): the version is part of every recipe that uses them.
GUIDED_VERSION = "1"
TRACK_VERSION = "1"


@dataclass(frozen=True)
class MaskSource:
    """How to get one frame's mask: the painted PNG, held as painted or carried by flow from
    the frame it was painted on, one frame at a time, each step cached under its own key."""

    path: str
    digest: str
    painted: int
    frame: int
    flow_scale: float = 0.5
    track: Mapping[str, Any] | None = None  # a carried mask's recipe, less the frame

    def key_at(self, index: int) -> str | None:
        """The cache key of the mask carried to `index`; None for the painted frame itself."""
        if self.track is None or index == self.painted:
            return None
        return recipe_key({**self.track, "frame": index})

    @property
    def key(self) -> str | None:
        return self.key_at(self.frame)

    @property
    def identity(self) -> str:
        """What names this mask in a recipe."""
        return self.key or self.digest


@dataclass(frozen=True)
class GuideRef:
    """A keyframe a guided frame takes detail from, and how to prepare its source picture."""

    index: int
    key: str
    inpainter: str | None
    inpaint_settings: Mapping[str, Any] | None
    mask: MaskSource | None


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
    mask: MaskSource | None = None
    # A temporal inpainter's nearby frames: (offset, that frame's mask), nearest first.
    neighbours: tuple[tuple[int, MaskSource | None], ...] = ()
    guides: tuple[GuideRef, ...] = ()  # guided mode: the keyframes to take detail from
    flow_scale: float = 0.5
    deps: frozenset[str] = frozenset()  # keys of frames this one is made from


@dataclass(frozen=True)
class InterpolationJob:
    """The in-between frames from frame `index` to the next, at `outputs` = ((t, key), ...)."""

    index: int
    key: str  # the pair's own key; done when every output key is
    a_key: str
    b_key: str
    outputs: tuple[tuple[Fraction, str], ...]
    interpolator: str
    settings: Mapping[str, Any]

    @property
    def deps(self) -> frozenset[str]:
        return frozenset({self.a_key, self.b_key})


Job = FrameJob | InterpolationJob


@dataclass(frozen=True)
class _Run:
    """Consecutive frames with one recipe apart from the frame index."""

    start: int
    stop: int
    recipe: Mapping[str, Any]
    settings: Mapping[str, Any]
    upscaler: str
    inpainter: str | None
    mask: MaskRef | None
    guides: tuple[int, ...] = ()


class Plan:
    """Recipe keys for every frame of one project state, and jobs on demand."""

    def __init__(self, project: Project, folder: ProjectFolder) -> None:
        self.project = project
        self.folder = folder
        self._runs = _split(project)
        self.keys: list[str] = [""] * project.frame_count
        for run in self._runs:  # keyframes and per-frame runs first: guided frames name them
            if not run.guides:
                self._fill(run)
        self._runs = [self._guided(run) if run.guides else run for run in self._runs]
        self._starts = [run.start for run in self._runs]
        for run in self._runs:
            if run.guides:
                self._fill(run)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def pairs(self) -> list[InterpolationJob]:
        """The in-between frames' jobs, one per pair of source frames."""
        return self._in_betweens[0]

    @property
    def outputs(self) -> list[str]:
        """The key of every output frame, in order."""
        return self._in_betweens[1]

    @functools.cached_property
    def positions(self) -> list[Position]:
        """Where each output frame sits in the source (see core/timing.py)."""
        return output_positions(self.project)

    def all_keys(self) -> set[str]:
        """Every cache entry this project state uses: frames, in-betweens and carried masks."""
        keys = set(self.keys) | set(self.outputs)
        for mask in self.project.masks:
            if mask.track:
                source = self._mask_source(mask, mask.frame)
                keys.update(source.key_at(i) or "" for i in range(mask.first, mask.end + 1))
        keys.discard("")
        return keys

    def job(self, index: int) -> FrameJob:
        run = self._run_of(index)
        settings = run.settings
        up = run.recipe["upscale"]
        inpaint = run.recipe["inpaint"]
        guides = tuple(self._guide(g) for g in run.guides)
        return FrameJob(
            index=index,
            key=self.keys[index],
            source_path=self.project.source.path,
            size=self.project.frame_size,
            upscaler=run.upscaler,
            upscale_settings=dict(up["settings"]),
            inpainter=run.inpainter,
            inpaint_settings=dict(inpaint["settings"]) if inpaint else None,
            mask=self._mask_source(run.mask, index) if run.mask else None,
            neighbours=self._neighbours(index, settings) if self._temporal(run) else (),
            guides=guides,
            flow_scale=float(settings["flow_scale"]),
            deps=frozenset(g.key for g in guides),
        )

    # --- recipes ---

    def _fill(self, run: _Run) -> None:
        if run.mask is not None and run.mask.track or self._temporal(run):
            for index in range(run.start, run.stop):  # every frame's mask differs
                self.keys[index] = recipe_key({**self._frame_recipe(run, index), "frame": index})
        else:
            self.keys[run.start:run.stop] = frame_keys(run.recipe, range(run.start, run.stop))

    def _frame_recipe(self, run: _Run, index: int) -> Mapping[str, Any]:
        inpaint = run.recipe["inpaint"]
        if inpaint is None:
            return run.recipe
        inpaint = {**inpaint, "mask": self._mask_source(run.mask, index).identity}
        if self._temporal(run):
            inpaint["neighbours"] = [
                [offset, None if m is None else m.identity]
                for offset, m in self._neighbours(index, run.settings)
            ]
        return {**run.recipe, "inpaint": inpaint}

    def _temporal(self, run: _Run) -> bool:
        if run.inpainter is None:
            return False
        try:
            return registry.get("inpaint", run.inpainter).temporal
        except BackendError:
            return False

    def _guided(self, run: _Run) -> _Run:
        """`run` as guided frames: the fast upscaler plus the guides' keys."""
        settings = run.settings
        fast = settings["fast_upscaler"]
        recipe = {
            **run.recipe,
            "upscale": _stage("upscale", fast, settings),
            "guided": {
                "v": GUIDED_VERSION,
                "flow_scale": settings["flow_scale"],
                "from": [[g, self.keys[g]] for g in run.guides],
            },
        }
        return _Run(run.start, run.stop, recipe, settings, fast, run.inpainter, run.mask,
                    run.guides)

    def _mask_source(self, mask: MaskRef, index: int) -> MaskSource:
        return mask_source(self.project, self.folder, mask, index)

    def _neighbours(
        self, index: int, settings: Mapping[str, Any]
    ) -> tuple[tuple[int, MaskSource | None], ...]:
        first, stop = self.project.shot_of(index)
        out = []
        for distance in range(1, int(settings["fill_frames"]) + 1):
            for offset in (-distance, distance):
                other = index + offset
                if first <= other < stop:
                    mask = self.project.mask_at(other)
                    out.append((offset, self._mask_source(mask, other) if mask else None))
        return tuple(out)

    def _guide(self, frame: int) -> GuideRef:
        run = self._run_of(frame)
        inpaint = run.recipe["inpaint"]
        return GuideRef(
            frame, self.keys[frame], run.inpainter,
            dict(inpaint["settings"]) if inpaint else None,
            self._mask_source(run.mask, frame) if run.mask else None,
        )

    @functools.cached_property
    def _in_betweens(self) -> tuple[list[InterpolationJob], list[str]]:
        """In-between frames for frame-rate conversion and every output frame's key; made on
        first use, since the editor's timeline needs only the frames' own keys."""
        info = self.project.source.info
        if self.project.output.fps(info) == info.fps:  # no conversion: skip 100,000 positions
            return [], list(self.keys)
        pairs: list[InterpolationJob] = []
        times: dict[int, list[Fraction]] = defaultdict(list)
        for index, t in self.positions:
            if t:
                times[index].append(t)
        made: dict[int, tuple[str, ...]] = {}  # index -> its in-betweens' keys, in order of t
        # Pairs in one settings run with the same times share a recipe but for the neighbours'
        # keys (and each output's t): its JSON is built once, not once per pair.
        templates: dict[tuple[int, tuple[tuple[int, int], ...]], tuple[Any, Any, Any]] = {}
        for index, ts in sorted(times.items()):
            if index + 1 in self.project.cuts:  # repeat the frame rather than morph a cut
                continue
            run = self._run_of(index)
            slot = (run.start, tuple((t.numerator, t.denominator) for t in ts))
            if slot not in templates:
                stage = _stage("interpolate", run.settings["interpolator"], run.settings)
                recipe = {"v": RECIPE_VERSION, "interpolate": stage,
                          "times": [str(t) for t in ts]}
                templates[slot] = (slot_keys(recipe, "a", "b"),
                                   slot_keys(recipe, "a", "b", "t"), stage)
            pair_key, output_key, stage = templates[slot]
            a, b = self.keys[index], self.keys[index + 1]
            outputs = tuple((t, output_key(a=a, b=b, t=str(t))) for t in ts)
            made[index] = tuple(key for _, key in outputs)
            pairs.append(InterpolationJob(
                index, pair_key(a=a, b=b), a, b, outputs, stage["backend"],
                dict(stage["settings"]),
            ))
        # `times` lists each frame's t in the order the positions hold them.
        taken = dict.fromkeys(made, 0)
        outputs = []
        for index, t in self.positions:
            if t and index in made:
                outputs.append(made[index][taken[index]])
                taken[index] += 1
            else:
                outputs.append(self.keys[index])
        return pairs, outputs

    def _run_of(self, index: int) -> _Run:
        lo = bisect.bisect_right(self._starts, index) - 1
        if lo < 0 or not self._runs[lo].start <= index < self._runs[lo].stop:
            raise IndexError(index)
        return self._runs[lo]


def mask_source(project: Project, folder: ProjectFolder, mask: MaskRef, index: int) -> MaskSource:
    """Where frame `index` gets `mask` from; a tracked mask's flow scale is the painted
    frame's `flow_scale` setting."""
    scale = float(project.settings_at(mask.frame)["flow_scale"])
    track = {
        "v": RECIPE_VERSION, "track": TRACK_VERSION,
        "source": project.source.fingerprint.digest, "mask": mask.digest,
        "painted": mask.frame, "flow_scale": scale,
    } if mask.track else None
    return MaskSource(str(folder.mask_path(mask.digest)), mask.digest, mask.frame, index, scale,
                      track)


def _split(project: Project) -> list[_Run]:
    """The project's frames as runs that share a recipe (before guided frames get theirs)."""
    width, height = project.frame_size
    base = {
        "v": RECIPE_VERSION,
        "source": project.source.fingerprint.digest,
        "grid": str(project.source.info.fps),
        "size": [width, height],
    }
    condition = project.source.info.conditioning.stage()
    if condition is not None:
        base["condition"] = condition
    keyframes = [kf.frame for kf in project.keyframes]
    is_keyframe = set(keyframes)
    bounds = {m.first for m in project.masks} | {m.end + 1 for m in project.masks}
    bounds |= set(project.cuts)
    runs = []
    for start, stop, settings in project.settings_runs():
        guided = settings["mode"] == "guided"
        cuts = {start, stop, *(b for b in bounds if start < b < stop)}
        if guided and start in is_keyframe:
            cuts.add(start + 1)  # the keyframe itself is made per frame
        cuts = sorted(c for c in cuts if c <= stop)
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
            guides = _guides(project, keyframes, a) if guided and a not in is_keyframe else ()
            runs.append(_Run(a, b, recipe, settings, upscaler, inpainter, mask, guides))
    return runs


def _guides(project: Project, keyframes: list[int], index: int) -> tuple[int, ...]:
    """The keyframes on either side of `index` within its shot (one at the ends, or none)."""
    first, stop = project.shot_of(index)
    pos = bisect.bisect_right(keyframes, index)
    before = keyframes[pos - 1] if pos else None
    after = keyframes[pos] if pos < len(keyframes) else None
    return tuple(
        k for k in (before, after) if k is not None and first <= k < stop
    )


def _stage(kind: registry.Kind, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    try:
        spec = registry.get(kind, name)
    except BackendError:  # an unknown backend fails its frames at render time, with the reason
        return {"backend": name, "version": None, "settings": {}}
    used = {k: settings.get(k, SETTINGS[k].default) for k in sorted(spec.uses)}
    stage = {"backend": name, "version": spec.version, "settings": used}
    weights = spec.weights({**settings, **used})
    if weights is not None:
        stage["weights"] = weights
    return stage
