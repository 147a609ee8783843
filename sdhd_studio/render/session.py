"""An open project: folder, undo history and frame cache behind one object.

The CLI and the GUI both work through a `Session`, so there is one way to edit, render and
export. The CLI saves every edit at once (atomically); the editor opens sessions with
`save_edits=False`, saves when the user asks and autosaves in between. Renders and exports take
an immutable snapshot of the project and never see later edits.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import MediaError, SdhdError
from sdhd_studio.core.folder import SUFFIX, ProjectFolder
from sdhd_studio.core.history import History
from sdhd_studio.core.project import OutputSettings, Project
from sdhd_studio.core.source import Source
from sdhd_studio.media.fingerprint import check_source, fingerprint
from sdhd_studio.media.probe import probe
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.events import Event
from sdhd_studio.render.frame_job import FrameRenderer
from sdhd_studio.render.plan import Plan
from sdhd_studio.render.scheduler import RenderSummary, Scheduler
from sdhd_studio.render.status import FrameStatus


class Session:
    def __init__(self, folder: ProjectFolder, project: Project, *, save_edits: bool = True) -> None:
        self.folder = folder
        self.history = History(project)
        self.cache = FrameCache(folder.cache_dir)
        self.save_edits = save_edits
        self._saved = project  # what project.json holds
        self._plan: Plan | None = None

    @classmethod
    def create(
        cls,
        source_path: str | os.PathLike[str],
        project_path: str | os.PathLike[str] | None = None,
        *,
        output: OutputSettings | None = None,
        settings: Mapping[str, Any] = {},  # noqa: B006 - read only
        save_edits: bool = True,
    ) -> Session:
        """Probe `source_path` and start a project for it (default: ./NAME.sdhd)."""
        source_path = Path(source_path).absolute()
        info = probe(source_path)
        source = Source(str(source_path), fingerprint(source_path), info)
        project = edits.new_project(source, output, settings)
        _check_backends(project)
        path = Path(project_path) if project_path else Path(source_path.stem + SUFFIX)
        return cls(ProjectFolder.create(path, project), project, save_edits=save_edits)

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
        project = folder.load()
        try:
            source = check_source(project.source, str(relocate) if relocate else None)
        except MediaError as exc:
            if relocate is None and not os.path.exists(project.source.path):
                raise MediaError(
                    f"{exc} (if it moved, run: sdhd relocate {folder.path} NEW_PATH)"
                ) from None
            raise
        if source != project.source:
            project = dataclasses.replace(project, source=source)
            folder.save(project)
        return cls(folder, project, save_edits=save_edits)

    @property
    def project(self) -> Project:
        return self.history.project

    @property
    def modified(self) -> bool:
        """The project differs from what is saved (only ever true with `save_edits=False`)."""
        return self.project is not self._saved

    def save(self) -> None:
        self.folder.save(self.project)
        self._saved = self.project
        self.folder.discard_autosave()

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
        self._saved = self.project
        self._plan = None
        old.discard_autosave()

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

    def edit(self, label: str, edit: Callable[..., Project], *args: Any, **kwargs: Any) -> Project:
        """Apply one undoable edit and save the project."""
        def checked(project: Project) -> Project:
            new = edit(project, *args, **kwargs)
            _check_backends(new)
            return new

        before = self.project
        project = self.history.apply(label, checked)
        if project is not before:
            self._saved_edit()
        return project

    def undo(self) -> Project:
        self.history.undo()
        self._saved_edit()
        return self.project

    def redo(self) -> Project:
        self.history.redo()
        self._saved_edit()
        return self.project

    def _saved_edit(self) -> None:
        if self.save_edits and self.modified:
            self.folder.save(self.project)
            self._saved = self.project

    def store_mask(self, png: bytes) -> str:
        return self.folder.store_mask(png)

    def plan(self) -> Plan:
        if self._plan is None or self._plan.project is not self.project:
            self._plan = Plan(self.project, self.folder)
        return self._plan

    def status(self) -> FrameStatus:
        return FrameStatus(
            self.plan().keys,
            self.cache.keys(),
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
        on_frame: Callable[[int, np.ndarray], None] | None = None,
        runtime: Runtime | None = None,
    ) -> RenderSummary:
        """Render the frames of `frames` (default: all) that are not in the cache.

        `on_frame(index, image)` is called on the worker thread with each finished frame.
        `runtime` says where learned backends run (device, tile size); default: automatic.
        """
        plan = self.plan()
        wanted = range(len(plan)) if frames is None else sorted(set(frames))
        if wanted:
            self.project.check_frame(wanted[0])
            self.project.check_frame(wanted[-1])
        cached = self.cache.keys()
        todo = [i for i in wanted if plan.keys[i] not in cached]
        renderer = FrameRenderer(self.cache, self.project.source.info, runtime)

        def run_job(job: Any, token: CancelToken) -> None:
            image = renderer(job, token)
            if on_frame is not None:
                on_frame(job.index, image)

        try:
            summary = Scheduler(run_job, executor, workers).run(
                [plan.job(i) for i in todo],
                focus=focus,
                on_event=on_event or (lambda e: None),
                cancel=cancel,
            )
        finally:
            renderer.close()
        self._record_failures(plan, todo, summary)
        return dataclasses.replace(summary, cached=len(wanted) - len(todo))

    def _record_failures(self, plan: Plan, attempted: list[int], summary: RenderSummary) -> None:
        failures = self.cache.failures()
        for index in attempted:
            failures.pop(plan.keys[index], None)
        failures.update({plan.keys[i]: msg for i, msg in summary.errors.items()})
        self.cache.set_failures(failures)

    def gc(self) -> tuple[int, int]:
        """Drop cached frames no frame of the current project uses; (entries, bytes) freed."""
        return self.cache.gc(self.plan().keys)


def _check_backends(project: Project) -> None:
    """Refuse backend names that do not exist, before they reach the document."""
    names = {("upscale", project.defaults["upscaler"]), ("inpaint", project.defaults["inpainter"])}
    for kf in project.keyframes:
        if "upscaler" in kf.settings:
            names.add(("upscale", kf.settings["upscaler"]))
        if "inpainter" in kf.settings:
            names.add(("inpaint", kf.settings["inpainter"]))
    names.update(("inpaint", m.inpainter) for m in project.masks if m.inpainter)
    for kind, name in names:
        registry.get(kind, name)
