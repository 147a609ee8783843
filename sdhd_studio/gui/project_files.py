"""Opening and starting projects with the user in the loop: a moved or changed source video is
located, an existing project is offered instead of a duplicate, every failure is explained.
Making a project runs on a worker (the main window's task); opening one is quick."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import SdhdError, SourceChangedError
from sdhd_studio.core.folder import SUFFIX, ProjectFolder
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.render.session import Session

VIDEO_FILTER = (
    "Videos (*.mp4 *.m4v *.mov *.mkv *.avi *.mpg *.mpeg *.vob *.ts *.m2ts *.mts *.dv *.wmv "
    "*.flv *.webm *.3gp);;All files (*)"
)


def is_project(path: str) -> bool:
    return os.path.isdir(path) and (
        path.rstrip("/\\").endswith(SUFFIX) or os.path.exists(os.path.join(path, "project.json"))
    )


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """A wait cursor for the short blocking steps of opening (probing, fingerprinting)."""
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QGuiApplication.restoreOverrideCursor()


def open_session(parent: QWidget, path: str) -> Session | None:
    """Open the project at `path`; asks the user to locate its video if it moved or changed."""
    relocate: str | None = None
    while True:
        try:
            with busy():
                return Session.open(path, relocate=relocate, save_edits=False)
        except SdhdError as exc:
            source = _source_path(path)
            if source is None or not _locatable(exc, source):
                QMessageBox.critical(parent, "Cannot open project", str(exc))
                return None
            if isinstance(exc, SourceChangedError):
                title = "Source video changed"
                text = (f"The video at {source} is not the one this project was made from "
                        "(its content changed).")
            else:
                title = "Source video not found"
                text = f"The source video {source} is missing or was moved."
            if relocate is not None:
                text = f"{exc}.\n\n{text}"
            answer = QMessageBox.warning(
                parent, title, f"{text}\n\nLocate the original video to continue?",
                QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Open:
                return None
            relocate, _ = QFileDialog.getOpenFileName(
                parent, "Locate the source video", str(Path(source).parent), VIDEO_FILTER
            )
            if not relocate:
                return None


def where_to_make(parent: QWidget, video: str) -> Path | Session | None:
    """Where a project for `video` goes: NAME.sdhd next to it, or where the user says when
    that folder is read-only. An existing project for it is opened instead (a Session) if the
    user agrees, never overwritten; None when the user gives up."""
    target = Path(video).with_suffix(SUFFIX)
    if is_project(str(target)):
        answer = QMessageBox.question(
            parent, "Project exists",
            f"There is already a project for this video:\n{target}\n\nOpen it?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
        )
        return open_session(parent, str(target)) if answer == QMessageBox.StandardButton.Open \
            else None
    if not os.access(target.parent, os.W_OK):
        chosen, _ = QFileDialog.getSaveFileName(
            parent, f"{target.parent} is read-only: save the project as",
            str(Path.home() / target.name), f"SDHD project (*{SUFFIX})",
        )
        if not chosen:
            return None
        target = Path(chosen if chosen.endswith(SUFFIX) else chosen + SUFFIX)
    return target


def make_session(video: str, target: Path, height: int, cancel: CancelToken) -> Session:
    """Make the project at `target` (on a worker: for telecined film this reads the whole
    file); `cancel.step` counts the pictures field-matched. Cancelled, it leaves no folder."""
    return Session.create(
        video, target, output=OutputSettings(height=height), save_edits=False, cancel=cancel
    )


def _source_path(project_path: str) -> str | None:
    try:
        return ProjectFolder(project_path).load().source.path
    except SdhdError:
        return None


def _locatable(exc: SdhdError, source: str) -> bool:
    return isinstance(exc, SourceChangedError) or not os.path.exists(source)
