"""The project open in the editor: a Session, every frame's state, undo and autosave.

Widgets never call the engine's edit functions themselves; they ask the Document, which applies
the edit as one undo step, recomputes the frame states for the new recipe keys and tells every
view at once through its signals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from sdhd_studio.core.errors import SdhdError
from sdhd_studio.core.project import Project
from sdhd_studio.render.cache_view import CacheView
from sdhd_studio.render.events import Event
from sdhd_studio.render.session import Session
from sdhd_studio.render.status import FrameState, FrameStatus

log = logging.getLogger(__name__)


class Document(QObject):
    projectChanged = Signal()  # an edit, undo, redo or restore: keys, keyframes or masks changed
    statesChanged = Signal()  # render events changed some frame states
    modifiedChanged = Signal(bool)
    editFailed = Signal(str)  # a one-line reason; the project is unchanged
    changedOnDisk = Signal()  # another program saved project.json (not asked about before)

    def __init__(
        self, session: Session, *, autosave_seconds: float = 5.0, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.cache_view = CacheView(session.cache)
        self.status: FrameStatus = self.cache_view.status(session.plan().keys)
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(round(autosave_seconds * 1000))
        self._autosave.timeout.connect(self.autosave)
        # A save replaces project.json by a rename, which a watch on the file itself would
        # lose: watch its folder, and compare contents (our own saves and autosaves touch the
        # folder too).
        self._watcher = QFileSystemWatcher([str(session.folder.path)], self)
        self._watcher.directoryChanged.connect(self._folder_changed)
        self._ignored_version: str | None = None

    @property
    def project(self) -> Project:
        return self.session.project

    @property
    def modified(self) -> bool:
        return self.session.modified

    @property
    def path(self) -> str:
        return str(self.session.folder.path)

    @property
    def title(self) -> str:
        return os.path.basename(self.path)

    def set_autosave_seconds(self, seconds: float) -> None:
        self._autosave.setInterval(round(seconds * 1000))

    def edit(self, label: str, edit: Callable[..., Project], *args: Any, **kwargs: Any) -> bool:
        """Apply one undoable edit; on bad input emit editFailed and change nothing."""
        before = self.project
        try:
            self.session.edit(label, edit, *args, **kwargs)
        except SdhdError as exc:
            self.editFailed.emit(str(exc))
            return False
        if self.project is not before:
            self._changed()
        return True

    def undo(self) -> None:
        if self.session.history.undo_label is not None:
            self.session.undo()
            self._changed()

    def redo(self) -> None:
        if self.session.history.redo_label is not None:
            self.session.redo()
            self._changed()

    def restore_autosave(self) -> bool:
        if not self.session.restore_autosave():
            return False
        self._changed()
        return True

    def store_mask(self, png: bytes) -> str | None:
        try:
            return self.session.store_mask(png)
        except SdhdError as exc:
            self.editFailed.emit(str(exc))
            return None

    def save(self, overwrite: bool = False) -> None:
        """Save to the project folder; raises SdhdError (nothing lost) when that fails, and
        ProjectChangedError when another program saved it meanwhile (unless `overwrite`)."""
        self.session.save(overwrite)
        self._autosave.stop()
        self.modifiedChanged.emit(False)

    def reload_from_disk(self) -> None:
        """Take up project.json as another program saved it (one undoable step)."""
        try:
            self.session.reload()
        except SdhdError as exc:
            self.editFailed.emit(str(exc))
            return
        self._changed()

    def ignore_disk_version(self) -> None:
        """The user keeps their version: ask again only when project.json changes anew."""
        self._ignored_version = self.session.folder.stamp()

    def _folder_changed(self, _path: str) -> None:
        if self.session.changed_on_disk() and \
                self.session.folder.stamp() not in (None, self._ignored_version):
            self.changedOnDisk.emit()

    def save_as(self, path: str) -> None:
        self.session.save_as(path)
        self.cache_view = CacheView(self.session.cache)
        self._autosave.stop()
        self._changed()

    def autosave(self) -> None:
        try:
            self.session.autosave()
        except SdhdError as exc:
            log.warning("autosave failed: %s", exc)

    def apply_events(self, events: Iterable[Event]) -> None:
        """Follow render events (on the GUI thread, in batches: one repaint per batch)."""
        changed = False
        for event in events:
            self.cache_view.apply(event)
            self.status.apply(event)
            changed = True
        if changed:
            self.statesChanged.emit()

    def reload_cache(self) -> None:
        """Re-read the cache after work done outside the editor's renders (an export)."""
        self.cache_view.reload()
        self.settle_states()

    def settle_states(self) -> None:
        """States from what the cache holds, once no render is running."""
        self.status = self.cache_view.status(self.session.plan().keys)
        self.statesChanged.emit()

    def close(self) -> None:
        self._autosave.stop()
        self._watcher.directoryChanged.disconnect(self._folder_changed)

    def _changed(self) -> None:
        old, self.status = self.status, self.cache_view.status(self.session.plan().keys)
        # A frame still queued or rendering under an unchanged key stays so: the render goes on.
        for index in old.frames_in(FrameState.QUEUED, FrameState.RENDERING):
            if index < len(self.status) and old.keys[index] == self.status.keys[index]:
                self.status.states[index] = old.states[index]
        self.projectChanged.emit()
        self.modifiedChanged.emit(self.modified)
        if self.modified:
            self._autosave.start()
        else:
            self._autosave.stop()
