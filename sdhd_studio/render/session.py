"""An open project: folder, undo history and frame cache behind one object.

The CLI and the GUI both work through a `Session`, so there is one way to edit, render and
export. The CLI saves every edit at once (atomically); the editor opens sessions with
`save_edits=False`, saves when the user asks and autosaves in between. Renders and exports take
an immutable snapshot of the project and never see later edits.

Other processes may edit the same project. A saving edit is a read-modify-write under the
folder's edit lock: it first takes up what others saved, so every edit lands. The editor's Save
refuses to overwrite changes saved elsewhere unless told to (`changed_on_disk`, `reload`).
One render or export runs per project (`exclusive`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.conditioning import condition, resolve_field_order, wants_ivtc
from sdhd_studio.core.errors import MediaError, ProjectError, SdhdError, SettingError
from sdhd_studio.core.folder import SUFFIX, ProjectFolder
from sdhd_studio.core.history import History
from sdhd_studio.core.lock import FileLock
from sdhd_studio.core.project import OutputSettings, Project, check_audio_track
from sdhd_studio.core.source import Source, VideoInfo
from sdhd_studio.media.analysis import analyse
from sdhd_studio.media.fingerprint import check_recorded_length, check_source, fingerprint
from sdhd_studio.media.images import read_mask
from sdhd_studio.media.probe import probe
from sdhd_studio.media.telecine import telecine_map
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.events import Event
from sdhd_studio.render.farm import FarmExecutor, Renderer
from sdhd_studio.render.frame_job import FrameRenderer
from sdhd_studio.render.plan import FrameJob, InterpolationJob, Job, Plan, mask_source
from sdhd_studio.render.scheduler import RenderSummary, Scheduler
from sdhd_studio.render.sources import open_reader
from sdhd_studio.render.status import FrameStatus

# Edits of one project by several processes are quick: waiting longer means one is stuck.
EDIT_LOCK_TIMEOUT_S = 30.0


class ProjectChangedError(ProjectError):
    """project.json was saved by another program since this session read it."""


@dataclass(frozen=True)
class TrackReport:
    first: int  # the frames the tracked mask reaches
    last: int
    warnings: list[str]  # where and why tracking stopped before the frames asked for


class Session:
    def __init__(
        self, folder: ProjectFolder, project: Project, stamp: str | None, *,
        save_edits: bool = True,
    ) -> None:
        self.folder = folder
        self.history = History(project)
        self.cache = FrameCache(folder.cache_dir)
        self.save_edits = save_edits
        self._saved = project  # what project.json holds
        # The version of project.json `project` was read from (`ProjectFolder.stamp`); None:
        # unknown, so the next saving edit reads the document again first.
        self._stamp = stamp
        self._plan: Plan | None = None

    @classmethod
    def create(
        cls,
        source_path: str | os.PathLike[str],
        project_path: str | os.PathLike[str] | None = None,
        *,
        output: OutputSettings | None = None,
        settings: Mapping[str, Any] = {},  # noqa: B006 - read only
        conditioning: Mapping[str, str] = {},  # noqa: B006 - read only
        save_edits: bool = True,
        cancel: CancelToken | None = None,
    ) -> Session:
        """Probe and analyse `source_path` and start a project for it (default: ./NAME.sdhd).

        `conditioning` holds the choices of `core.conditioning.condition` (field_order,
        deinterlace, ivtc, colour_matrix); those left out are "auto". Telecined film is
        field-matched here, once (one pass over the file; `cancel.step` counts its pictures).
        Nothing is written before the last cancel check, so a cancelled start leaves no folder.
        """
        source_path = Path(source_path).absolute()
        info = probe(source_path)
        if output is not None:  # before the analysis, which may read the whole file
            check_audio_track(str(source_path), info, output.audio_track)
        info = conditioned_info(str(source_path), info, conditioning, cancel)
        source = Source(str(source_path), fingerprint(source_path), info)
        project = edits.new_project(source, output, settings)
        _check_backends(project)
        path = Path(project_path) if project_path else Path(source_path.stem + SUFFIX)
        if cancel is not None:
            cancel.check()
        folder = ProjectFolder.create(path, project)
        return cls(folder, project, folder.stamp(), save_edits=save_edits)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        relocate: str | os.PathLike[str] | None = None,
        save_edits: bool = True,
    ) -> Session:
        """Open a project folder; checks that its source is still the same video.

        A touched or moved (and relocated) source keeps the cache; a replaced one is refused
        with SourceChangedError before anything can mix old and new frames.
        """
        folder = ProjectFolder(path)
        project, stamp = folder.load_versioned()
        try:
            source = check_source(project.source, str(relocate) if relocate else None)
        except MediaError as exc:
            if relocate is None and not os.path.exists(project.source.path):
                raise MediaError(
                    f"{exc} (if it moved, run: sdhd relocate {folder.path} NEW_PATH)"
                ) from None
            raise
        check_recorded_length(source)
        if source != project.source:  # moved or touched: record where and what it is now
            with folder.edit_lock().acquire(timeout=EDIT_LOCK_TIMEOUT_S):
                if folder.stamp() != stamp:
                    project = folder.load()
                project = dataclasses.replace(project, source=source)
                folder.save(project)
                stamp = folder.stamp()
        return cls(folder, project, stamp, save_edits=save_edits)

    @property
    def project(self) -> Project:
        return self.history.project

    @property
    def modified(self) -> bool:
        """The project differs from what is saved (only ever true with `save_edits=False`)."""
        return self.project is not self._saved

    def save(self, overwrite: bool = False) -> None:
        """Write the project to project.json. ProjectChangedError when another program saved
        it since this session read it, unless `overwrite`: its changes would be lost."""
        with self._edit_lock():
            if not overwrite and self.changed_on_disk():
                raise ProjectChangedError(
                    f"{self.folder.project_file} was changed by another program since it was "
                    "opened: reload it, or save again to overwrite those changes"
                )
            self._write()
        self.folder.discard_autosave()

    def changed_on_disk(self) -> bool:
        """Another program saved project.json since this session last read or wrote it."""
        return self.folder.stamp() != self._stamp

    def reload(self) -> Project:
        """Take up project.json as another program saved it, as one undoable step; unsaved
        changes of this session are replaced (undo brings them back)."""
        with self._edit_lock():
            self._take_up_saved("Reload from disk")
        return self.project

    def _take_up_saved(self, label: str) -> None:
        latest, stamp = self.folder.load_versioned()
        # The source was checked when this session opened; the document's record may be older.
        latest = dataclasses.replace(latest, source=self.project.source)
        self.history.apply(label, lambda project: latest)
        self._saved, self._stamp = self.history.project, stamp

    def _edit_lock(self) -> FileLock:
        return self.folder.edit_lock().acquire(timeout=EDIT_LOCK_TIMEOUT_S)

    def _write(self) -> None:
        self.folder.save(self.project)
        self._saved, self._stamp = self.project, self.folder.stamp()

    @contextlib.contextmanager
    def exclusive(
        self, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the project's render lock: the one render or export it may have at a time.

        Threads of one process share it (the editor exports while it renders); another
        process waits (`on_wait` hears why, once) or, without `wait`, is refused.
        """
        path = self.folder.render_lock().path
        with _render_locks_guard:
            lock, users = _render_locks.get(path, (None, 0))
            if lock is None:
                lock = self.folder.render_lock().acquire(wait=wait, on_wait=on_wait)
            _render_locks[path] = (lock, users + 1)
        try:
            yield
        finally:
            with _render_locks_guard:
                lock, users = _render_locks.pop(path)
                if users > 1:
                    _render_locks[path] = (lock, users - 1)
                else:
                    lock.release()

    def save_as(self, path: str | os.PathLike[str]) -> None:
        """Continue in a new project folder at `path`, carrying the masks and rendered frames."""
        old = self.folder
        target = old.copy_to(path, self.project)
        try:
            cache = self.cache.copy_to(target.cache_dir)
        except SdhdError:
            shutil.rmtree(target.path, ignore_errors=True)
            raise
        self.folder, self.cache = target, cache
        self._saved, self._stamp = self.project, target.stamp()
        self._plan = None
        old.discard_autosave()

    def use_cache(self, path: str | os.PathLike[str]) -> None:
        """Keep rendered frames in `path` instead of the project folder's cache (a folder on
        storage every farm worker shares); later commands find them there when given it too."""
        self.cache = FrameCache(Path(path).absolute())

    def autosave(self) -> None:
        """Write unsaved changes to the folder's autosave, leaving the saved project alone."""
        if self.modified:
            self.folder.save_autosave(self.project)

    def restore_autosave(self) -> bool:
        """Take up the autosaved changes a crash left behind, as one undoable step.

        Returns False when there is no autosave newer than the saved project.
        """
        autosaved = self.folder.load_autosave()
        if autosaved is None:
            return False
        # The source was just checked on open; the autosave's record of it may be older.
        autosaved = dataclasses.replace(autosaved, source=self.project.source)
        self.history.apply("Restore autosave", lambda project: autosaved)
        return True

    def set_source_frames(self, conditioning: Mapping[str, str]) -> Project:
        """Condition the source anew with these choices (the others as they were), one
        undoable edit; keyframes, masks and cuts keep their times."""
        current = self.project.source.info.conditioning
        chosen = {name: conditioning.get(name, getattr(current, name))
                  for name in ("field_order", "deinterlace", "ivtc", "colour_matrix")}  # fmt: skip
        info = conditioned_info(self.project.source.path, self.project.source.info, chosen)
        return self.edit("Source frames", edits.set_source_frames, info)

    def edit(self, label: str, edit: Callable[..., Project], *args: Any, **kwargs: Any) -> Project:
        """Apply one undoable edit and save the project."""
        def checked(project: Project) -> Project:
            new = edit(project, *args, **kwargs)
            _check_backends(new)
            return new

        with self._saving():
            return self.history.apply(label, checked)

    def undo(self) -> Project:
        with self._saving():
            return self.history.undo()

    def redo(self) -> Project:
        with self._saving():
            return self.history.redo()

    @contextlib.contextmanager
    def _saving(self) -> Iterator[None]:
        """With `save_edits`, one read-modify-write of project.json: under the edit lock, take
        up what other processes saved, apply the edit, save."""
        if not self.save_edits:
            yield
            return
        with self._edit_lock():
            if self.changed_on_disk():
                self._take_up_saved("Changes saved by another program")
            yield
            if self.modified:
                self._write()

    def store_mask(self, png: bytes) -> str:
        return self.folder.store_mask(png)

    def detect_cuts(self, cancel: CancelToken | None = None) -> list[int]:
        """The frames where a new shot starts, found by reading the whole source once."""
        from sdhd_studio.ml.interpolate import find_cuts

        cancel = cancel or CancelToken()
        info = self.project.source.info
        with open_reader(self.project.source.path, info) as reader:
            def frames() -> Iterator[np.ndarray]:
                for index in range(info.frame_count):
                    cancel.check()
                    yield reader.read(index)

            return find_cuts(frames())

    def add_keyframes(self, every: int, at_cuts: bool = True) -> list[int]:
        """Keyframes every `every` frames and (`at_cuts`) where shots start; the new cuts are
        kept as the project's cuts. Returns the keyframes' frames."""
        cuts = self.detect_cuts() if at_cuts else []
        self.edit("Add keyframes", edits.add_keyframes, every, cuts)
        return [kf.frame for kf in self.project.keyframes]

    def track_mask(
        self,
        frame: int,
        digest: str,
        end: int,
        start: int | None = None,
        inpainter: str | None = None,
        cancel: CancelToken | None = None,
    ) -> TrackReport:
        """Paint the mask `digest` on `frame` and carry it by optical flow forward to `end` and
        back to `start` (default: `frame`), stopping early where tracking confidence drops.
        Every carried mask is stored in the cache under its own recipe key."""
        from sdhd_studio.ml import track

        cancel = cancel or CancelToken()
        project = self.project
        project.check_frame(frame)
        start = frame if start is None else start
        asked = edits.set_mask(project, frame, digest, end, inpainter, track=True, start=start)
        mask = asked.mask_painted_on(frame)
        source = mask_source(project, self.folder, mask, frame)
        painted = read_mask(source.path, (project.source.info.width, project.source.info.height))
        reached = {1: frame, -1: frame}
        warnings = []
        with open_reader(project.source.path, project.source.info) as reader:
            for step, limit in ((1, end), (-1, start)):
                carried, previous = painted, reader.read(frame)
                for index in range(frame + step, limit + step, step):
                    cancel.check()
                    picture = reader.read(index)
                    carried, confidence = track.carry(carried, previous, picture,
                                                      source.flow_scale)
                    if confidence < track.MIN_CONFIDENCE:
                        warnings.append(
                            f"tracking stopped at frame {index - step}: confidence "
                            f"{confidence:.2f} at frame {index} is below "
                            f"{track.MIN_CONFIDENCE:.2f}"
                        )
                        break
                    self.cache.put(source.key_at(index), carried)
                    reached[step], previous = index, picture
        self.edit(f"Track mask on frame {frame}", edits.set_mask, frame, digest, reached[1],
                  inpainter, track=True, start=reached[-1])
        return TrackReport(reached[-1], reached[1], warnings)

    def plan(self) -> Plan:
        if self._plan is None or self._plan.project is not self.project:
            self._plan = Plan(self.project, self.folder)
        return self._plan

    def status(self, cached: set[str] | None = None) -> FrameStatus:
        """Every frame's state; `cached`: the cache's keys, when the caller has them."""
        return FrameStatus(
            self.plan().keys,
            self.cache.keys() if cached is None else cached,
            self.cache.rendered_frames(),
            self.cache.failures(),
        )

    def render(
        self,
        frames: Iterable[int] | None = None,
        *,
        workers: int | None = None,
        executor: Executor | None = None,
        focus: int | Callable[[], int] = 0,
        on_event: Callable[[Event], None] | None = None,
        cancel: CancelToken | None = None,
        on_frame: Callable[[Job, Any], None] | None = None,
        runtime: Runtime | None = None,
        between: bool = True,
        plan: Plan | None = None,
        keep_cheap: bool = True,
    ) -> RenderSummary:
        """Render the frames of `frames` (default: all) that are not in the cache, with the
        keyframes guided frames need, and (`between`) the in-between frames of frame-rate
        conversion that follow them.

        `on_frame(job, result)` is called on the worker thread with each finished job's picture
        (a list of pictures for in-between frames). `runtime` says where learned backends run
        (device, tile size); default: automatic. `plan`: render for this plan instead of the
        project's own (an export at another frame rate). `executor`: where jobs run (default:
        threads here); a `FarmExecutor` (a Ray cluster) makes the frames on its own workers.
        `keep_cheap=False` (a one-shot job whose project is removed afterwards, with `on_frame`
        taking the pictures): frames a cheap backend makes, which nothing else in this render
        reads back, are handed over without being stored, as storing them costs more than
        remaking them would.
        """
        plan = plan or self.plan()
        wanted = range(len(plan)) if frames is None else sorted(set(frames))
        if wanted:
            self.project.check_frame(wanted[0])
            self.project.check_frame(wanted[-1])
        cached = self.cache.keys()
        jobs = self._jobs(plan, wanted, cached, between)
        renderer: Renderer
        transient: frozenset[str] = frozenset()
        if isinstance(executor, FarmExecutor):
            renderer = executor.renderer(self.cache, self.project.source, runtime or Runtime(),
                                         pictures=on_frame is not None)
            workers = workers or executor.workers
        else:
            if not keep_cheap:
                transient = _unstored(jobs)
            renderer = FrameRenderer(self.cache, self.project.source.info, runtime, transient)

        def run_job(job: Job, token: CancelToken) -> None:
            result = renderer(job, token)
            # Logged here, so farm workers never write the log.
            if isinstance(job, FrameJob) and job.key not in transient:
                self.cache.mark_rendered(job.index)
            if on_frame is not None:
                on_frame(job, result)

        try:
            summary = Scheduler(run_job, executor, workers).run(
                jobs,
                focus=focus,
                on_event=on_event or (lambda e: None),
                cancel=cancel,
            )
        finally:
            renderer.close()
        self._record_failures(jobs, summary)
        asked = sum(1 for i in wanted if plan.keys[i] in cached)
        return dataclasses.replace(summary, cached=asked)

    def _jobs(
        self, plan: Plan, wanted: Iterable[int], cached: set[str], between: bool
    ) -> list[Job]:
        """The jobs that make `wanted` frames (and their in-betweens), and those they need."""
        frames = {i for i in wanted if plan.keys[i] not in cached}
        pairs: list[InterpolationJob] = []
        if between:
            chosen = set(wanted)
            for pair in plan.pairs:
                if pair.index in chosen and any(k not in cached for _, k in pair.outputs):
                    pairs.append(pair)
                    frames.update(i for i in (pair.index, pair.index + 1)
                                  if plan.keys[i] not in cached)
        jobs: dict[int, FrameJob] = {}
        todo = sorted(frames)
        while todo:  # a guided frame needs its keyframes, which may not be asked for
            index = todo.pop()
            if index in jobs:
                continue
            jobs[index] = job = plan.job(index)
            todo.extend(g.index for g in job.guides
                        if g.key not in cached and g.index not in jobs)
        return [*(jobs[i] for i in sorted(jobs)), *pairs]

    def _record_failures(self, attempted: list[Job], summary: RenderSummary) -> None:
        failures = self.cache.failures()
        for job in attempted:
            failures.pop(job.key, None)
        failures.update(summary.failed_keys)
        self.cache.set_failures(failures)

    def gc(self) -> tuple[int, int]:
        """Drop cached entries nothing in the current project uses; (entries, bytes) freed."""
        return self.cache.gc(self.plan().all_keys())


# Render locks this process holds, by lock file: (lock, number of holders).
_render_locks: dict[Path, tuple[FileLock, int]] = {}
_render_locks_guard = threading.Lock()

_BACKEND_SETTINGS = {
    "upscaler": "upscale", "fast_upscaler": "upscale", "inpainter": "inpaint",
    "interpolator": "interpolate",
}


def conditioned_info(
    path: str, info: VideoInfo, conditioning: Mapping[str, str],
    cancel: CancelToken | None = None,
) -> VideoInfo:
    """`info` analysed (once) and conditioned by these choices; telecined film is
    field-matched here (one pass over the file, `cancel.step` per picture) unless its map is
    already known."""
    if info.analysis is None:
        info = dataclasses.replace(info, analysis=analyse(path, info))
        if cancel is not None:
            cancel.check()
    chosen = {name: conditioning.get(name, "auto")
              for name in ("field_order", "deinterlace", "ivtc")}  # fmt: skip
    telecine = ""
    if wants_ivtc(info, **chosen):
        order = resolve_field_order(info, chosen["field_order"])
        known = info.conditioning
        same = known.mode == "ivtc" and known.order == order
        telecine = known.telecine if same else telecine_map(path, info, order, cancel)
    return condition(info, **conditioning, telecine=telecine)


def _check_backends(project: Project) -> None:
    """Refuse backend names that do not exist, and models no backend that would read them
    knows, before they reach the document. One pass over the keyframes, tracking only the
    settings that name backends and models."""
    from sdhd_studio.core.settings import DEFAULTS

    names = set(_BACKEND_SETTINGS) | set(_MODEL_SETTINGS.values())
    current = {name: value for name, value in {**DEFAULTS, **project.defaults}.items()
               if name in names}
    seen: set[tuple[str, str, str]] = set()
    for settings in (project.defaults, *(kf.settings for kf in project.keyframes)):
        current.update((name, value) for name, value in settings.items() if name in names)
        for name, kind in _BACKEND_SETTINGS.items():
            model = _MODEL_SETTINGS.get(kind, "")
            seen.add((kind, current[name], current.get(model, "")))
    seen.update(("inpaint", m.inpainter, "") for m in project.masks if m.inpainter)
    for kind, name, model in seen:
        spec = registry.get(kind, name)
        setting = _MODEL_SETTINGS.get(kind)
        problem = setting and model and spec.unknown_model({setting: model})
        if problem:
            raise SettingError(f"{name}: {problem}")


# The setting that names each kind of backend's model.
_MODEL_SETTINGS = {"upscale": "model", "inpaint": "inpaint_model"}


def _unstored(jobs: list[Job]) -> frozenset[str]:
    """The keys of frames in `jobs` that a cheap backend makes from the source alone (no mask,
    no guides) and that no other job reads back from the cache."""
    read_back: set[str] = set()
    for job in jobs:
        if isinstance(job, InterpolationJob):
            read_back.update((job.a_key, job.b_key))
        else:
            read_back.update(g.key for g in job.guides)
    return frozenset(
        job.key for job in jobs
        if isinstance(job, FrameJob) and job.key not in read_back and not job.guides
        and job.mask is None and registry.get("upscale", job.upscaler).cheap
    )
