"""The editor's main window: menus, timeline, preview, inspector, mask tools, log, status bar.

It wires views to the Document (edits, undo, frame states) and the RenderPool (renders); it
holds no render logic of its own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import SdhdError
from sdhd_studio.core.folder import SUFFIX
from sdhd_studio.core.project import MaskRef, Project
from sdhd_studio.core.source import VideoInfo
from sdhd_studio.core.timecode import clock, frame_time
from sdhd_studio.gui import project_files
from sdhd_studio.gui.about import SystemInfo, collect_system_info, device_text, show_about
from sdhd_studio.gui.document import Document
from sdhd_studio.gui.export_dialog import run_export
from sdhd_studio.gui.frame_loader import FrameLoader, FrameRequest, LoadedFrame
from sdhd_studio.gui.inspector import InspectorWidget
from sdhd_studio.gui.keyframe_dialog import AutoKeyframesDialog
from sdhd_studio.gui.live_window import LiveWindow
from sdhd_studio.gui.log_panel import LogBridge, LogPanel
from sdhd_studio.gui.mask_panel import MaskPanel
from sdhd_studio.gui.models_window import ModelsWindow
from sdhd_studio.gui.preferences import (
    Preferences,
    PreferencesDialog,
    add_recent_file,
    recent_files,
)
from sdhd_studio.gui.preview import CompareMode, PreviewWidget
from sdhd_studio.gui.render_pool import RenderPool
from sdhd_studio.gui.source_panel import SourcePanel
from sdhd_studio.gui.task import BackgroundTask, progress_dialog
from sdhd_studio.gui.timeline import MARKER_COLOURS, STATE_COLOURS, MaskMarker, TimelineWidget
from sdhd_studio.gui.units import size_text
from sdhd_studio.gui.workers import WorkerPool
from sdhd_studio.media import disc
from sdhd_studio.media.images import encode_png
from sdhd_studio.ml import registry
from sdhd_studio.render.events import Progress
from sdhd_studio.render.plan import mask_source
from sdhd_studio.render.session import ProjectChangedError, Session, TrackReport, conditioned_info
from sdhd_studio.render.status import FrameState, ranges

log = logging.getLogger(__name__)

# What the progress of a task that conditions the source counts (`media.telecine`).
_MATCHING = "Matching fields: {done} of {total} pictures"

_MODES = (
    (CompareMode.SOURCE, "Source", "1"),
    (CompareMode.RESULT, "Result", "2"),
    (CompareMode.SPLIT, "Split", "3"),
    (CompareMode.SIDE_BY_SIDE, "Side by side", "4"),
)


class MainWindow(QMainWindow):
    frameShown = Signal(int)  # the preview shows this frame (its first full paint, for one)
    _systemInfoReady = Signal(object)  # from the worker that collects it

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.prefs = Preferences.load(self.settings)
        self.document: Document | None = None
        self.render_pool: RenderPool | None = None
        self.system_info: SystemInfo | None = None
        self.models_window: ModelsWindow | None = None
        self.live_window: LiveWindow | None = None
        # Making a project, finding cuts, tracking or making the source's frames, while it runs
        self.task: BackgroundTask | None = None
        self._current = 0
        self._grid: tuple[int, Fraction] = (0, Fraction(1))  # the timeline's frame count, rate
        self._play_started: tuple[float, int] | None = None

        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.loader = FrameLoader(self)
        self.loader.set_quick_upscaler(self.prefs.quick_preview)
        self.loader.loaded.connect(self._frame_loaded)
        self._info_pool = WorkerPool(1, self)

        self._build_views()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._playback = QTimer(self)
        self._playback.timeout.connect(self._play_tick)
        self._log_bridge = LogBridge(self)
        self._log_bridge.record.connect(self.log_panel.add)
        logging.getLogger("sdhd_studio").addHandler(self._log_bridge.handler)

        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first start: the picture gets the room, the log a few lines
            self.resizeDocks([self._docks[1]], [110], Qt.Orientation.Vertical)
        self._update_enabled()
        self._systemInfoReady.connect(self._info_ready)
        self._ask_device()

    # -- building -----------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.preview = PreviewWidget()
        self.preview.strokeFinished.connect(self._mask_painted)
        self.timeline = TimelineWidget()
        self.timeline.currentFrameChanged.connect(self.set_current_frame)
        self.timeline.addKeyframeRequested.connect(self.add_keyframe)
        self.timeline.removeKeyframeRequested.connect(self.remove_keyframe)
        self.timeline.renderRangeRequested.connect(
            lambda a, b: self.render_frames(range(a, b + 1))
        )
        self.timeline.clearMaskRequested.connect(self.remove_mask)
        self.timeline.cutRequested.connect(self.set_cut)
        self.timeline.autoKeyframesRequested.connect(self.add_keyframes_automatically)
        self.timeline.selectionChanged.connect(lambda *_: self._update_enabled())

        self._play_button = QToolButton(text="▶")
        self._play_button.setToolTip("Play / pause (Space)")
        self._play_button.clicked.connect(self.toggle_playback)
        self._frame_box = QSpinBox(minimum=0, maximum=0, keyboardTracking=False)
        self._frame_box.setToolTip("Current frame")
        self._frame_box.valueChanged.connect(self.set_current_frame)
        self._time_label = QLabel("–")
        self._legend = QLabel(_legend_html())
        transport = QHBoxLayout()
        transport.setContentsMargins(6, 0, 6, 0)
        transport.addWidget(self._play_button)
        transport.addWidget(QLabel("Frame"))
        transport.addWidget(self._frame_box)
        transport.addWidget(self._time_label)
        transport.addStretch(1)
        transport.addWidget(self._legend)
        bottom = QWidget()
        column = QVBoxLayout(bottom)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(transport)
        column.addWidget(self.timeline)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.preview)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        splitter.setCollapsible(1, False)
        self.setCentralWidget(splitter)

        self.inspector = InspectorWidget()
        self.inspector.settingsEdited.connect(self._settings_edited)
        self.inspector.interpolationToggled.connect(self._interpolation_toggled)
        self.inspector.addKeyframeRequested.connect(self.add_keyframe)
        self.inspector.removeKeyframeRequested.connect(self.remove_keyframe)
        self.inspector.modelsRequested.connect(self.show_models)
        self.mask_panel = MaskPanel()
        self.mask_panel.toolChanged.connect(self.preview.set_tool)
        self.mask_panel.clearRequested.connect(self.preview.clear_mask)
        self.mask_panel.invertRequested.connect(self.preview.invert_mask)
        self.mask_panel.removeRequested.connect(self.remove_mask)
        self.mask_panel.spanChanged.connect(self._mask_span_changed)
        self.mask_panel.trackRequested.connect(self.track_mask)
        tabs = QTabWidget()
        tabs.addTab(self.inspector, "Settings")
        tabs.addTab(self.mask_panel, "Mask")
        self.source_panel = SourcePanel()
        self.source_panel.applyRequested.connect(self.set_source_frames)
        self.source_panel.audioTrackChosen.connect(self.set_audio_track)
        tabs.addTab(self.source_panel, "Source")
        self._side_tabs = tabs
        dock = QDockWidget("Inspector", self)
        dock.setObjectName("inspector")
        dock.setWidget(tabs)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.log_panel = LogPanel()
        log_dock = QDockWidget("Log", self)
        log_dock.setObjectName("log")
        log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, log_dock)
        self._docks = (dock, log_dock)

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        self.act_new = self._action("&New from video…", self.new_from_video_dialog, keys.New)
        self.act_open = self._action("&Open…", self.open_dialog, keys.Open)
        self.act_save = self._action("&Save", self.save, keys.Save)
        self.act_save_as = self._action("Save &as…", self.save_as_dialog, keys.SaveAs)
        self.act_export = self._action("&Export…", self.export, "Ctrl+E")
        self.act_quit = self._action("&Quit", self.close, keys.Quit)
        self.act_undo = self._action("&Undo", self.undo, keys.Undo)
        self.act_redo = self._action("&Redo", self.redo, keys.Redo)
        self.act_prefs = self._action("&Preferences…", self.preferences_dialog, keys.Preferences)
        self.act_live = self._action(
            "&Live input…", self.show_live, tip="A capture device, stream or file played in "
            "real time beside its realtime ×2, recorded if asked",
        )
        self.act_models = self._action(
            "&Models…", self.show_models, tip="The learned backends' models: which are here, "
            "and downloading those that are not",
        )
        self.act_render = self._action(
            "Render &dirty frames", lambda: self.render_frames(None), "Ctrl+R",
            "Render every frame that is not done, nearest the playhead first",
        )
        self.act_render_sel = self._action(
            "Render &selection", self.render_selection, "Ctrl+Shift+R",
            "Render the frames selected on the timeline (shift-drag to select)",
        )
        self.act_cancel = self._action("&Cancel render", self.cancel_render, "Ctrl+.")
        self.act_play = self._action("Play / pause", self.toggle_playback, "Space")
        self.act_prev = self._action("Previous frame", lambda: self.step(-1), "Left")
        self.act_next = self._action("Next frame", lambda: self.step(1), "Right")
        self.act_first = self._action("First frame", lambda: self.set_current_frame(0), "Home")
        self.act_last = self._action("Last frame", self.go_to_end, "End")
        self.act_key = self._action(
            "Add &keyframe here", lambda: self.add_keyframe(self._current), "K"
        )
        self.act_auto_keys = self._action(
            "Add keyframes &automatically…", self.add_keyframes_automatically,
            tip="Keyframes every N frames and where shots change",
        )
        self.act_cut = self._action(
            "Toggle &cut here", self.toggle_cut, "C",
            "Mark the frame at the playhead as the first of a new shot (or unmark it)",
        )
        self.act_brush = self._action("Brush", lambda: self._toggle_tool("brush"), "B")
        self.act_eraser = self._action("Eraser", lambda: self._toggle_tool("eraser"), "E")
        self.act_bigger = self._action("Bigger brush", lambda: self.mask_panel.change_size(1.25),
                                       "]")
        self.act_smaller = self._action("Smaller brush", lambda: self.mask_panel.change_size(0.8),
                                        "[")
        self.act_about = self._action("&About SDHD Studio", self.about)
        modes = QActionGroup(self)
        self.mode_actions: dict[CompareMode, QAction] = {}
        for mode, label, key in _MODES:
            action = self._action(label, lambda _=False, m=mode: self.preview.set_mode(m), key)
            action.setCheckable(True)
            modes.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions[CompareMode.SPLIT].setChecked(True)
        self.preview.set_mode(CompareMode.SPLIT)
        self.act_fit = self._action("Zoom to &fit", lambda: self.preview.set_zoom(None), "0")
        self.act_100 = self._action("Zoom &100%", lambda: self.preview.set_zoom(1.0), "Ctrl+1")
        self.act_200 = self._action("Zoom &200%", lambda: self.preview.set_zoom(2.0), "Ctrl+2")
        self.act_timeline_fit = self._action(
            "Whole video on the timeline", self.timeline.zoom_to_fit, "Ctrl+0"
        )

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.act_new, self.act_open])
        self._recent_menu = file.addMenu("Open &recent")
        self._recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        file.addActions([self.act_save, self.act_save_as])
        file.addSeparator()
        file.addAction(self.act_export)
        file.addSeparator()
        file.addAction(self.act_live)
        file.addSeparator()
        file.addAction(self.act_quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_key, self.act_auto_keys, self.act_cut])
        edit.addSeparator()
        edit.addActions([self.act_brush, self.act_eraser])
        edit.addSeparator()
        edit.addActions([self.act_prefs, self.act_models])
        render = bar.addMenu("&Render")
        render.addActions([self.act_render, self.act_render_sel, self.act_cancel])
        view = bar.addMenu("&View")
        view.addActions(list(self.mode_actions.values()))
        view.addSeparator()
        view.addActions([self.act_fit, self.act_100, self.act_200, self.act_timeline_fit])
        view.addSeparator()
        for dock in self._docks:
            view.addAction(dock.toggleViewAction())
        playback = bar.addMenu("&Playback")
        playback.addActions(
            [self.act_play, self.act_prev, self.act_next, self.act_first, self.act_last]
        )
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)

    def _build_status_bar(self) -> None:
        self._zoom_label = QLabel("Zoom: fit")
        self.preview.zoomChanged.connect(
            lambda zoom: self._zoom_label.setText(f"Zoom: {zoom:.0%}" if zoom else "Zoom: fit")
        )
        self._device_label = QLabel("Compute: checking…")
        self._device_label.setToolTip("Where learned backends run (Edit › Preferences)")
        self._cache_label = QLabel()
        self._render_label = QLabel()
        self._step_label = QLabel()  # the steps of frames in flight (diffusion)
        self._counts_label = QLabel()
        bar = self.statusBar()
        bar.addWidget(self._render_label)
        bar.addWidget(self._step_label, 1)
        bar.addPermanentWidget(self._zoom_label)
        bar.addPermanentWidget(self._counts_label)
        bar.addPermanentWidget(self._cache_label)
        bar.addPermanentWidget(self._device_label)

    # -- projects -----------------------------------------------------------------------------

    def open_path(self, path: str) -> bool:
        """Open a project folder, or start making a project from a video file or a DVD folder
        (on a worker, with progress and Cancel: it opens once made). False if neither
        happened."""
        path = os.path.abspath(path)
        if self.document is None and self.task is not None:
            return False  # a project is being made
        if not self._close_document():
            return False
        if project_files.is_project(path):
            session = project_files.open_session(self, path)
        elif os.path.isfile(path) or disc.is_disc(path):
            where = project_files.where_to_make(self, path)
            if isinstance(where, Path):
                self._make_project(path, where)
                return True
            session = where
        else:
            QMessageBox.critical(self, "Cannot open", f"{path} is not a video or a project")
            return False
        if session is None:
            return False
        self._opened(session)
        return True

    def _make_project(self, video: str, target: Path) -> None:
        """Analysing the source, and matching the fields of every picture of telecined film,
        take long for a long video: a worker does it, and the project opens when made."""
        height = self.prefs.new_project_height

        def work(token: CancelToken) -> Session:
            return project_files.make_session(video, target, height, task.stepping(token))

        task = BackgroundTask(work, parent=self)
        self._run_task(task, "New project", f"Analysing {os.path.basename(video)}…",
                       self._opened, _MATCHING)

    def _opened(self, session: Session) -> None:
        self._set_document(Document(session, autosave_seconds=self.prefs.autosave_seconds))
        if session.folder.load_autosave() is not None:
            self._offer_autosave()
        add_recent_file(self.settings, str(session.folder.path))

    def _offer_autosave(self) -> None:
        assert self.document is not None
        when = time.strftime(
            "%Y-%m-%d %H:%M",
            time.localtime(self.document.session.folder.autosave_file.stat().st_mtime),
        )
        answer = QMessageBox.question(
            self, "Recover unsaved changes?",
            f"This project has unsaved changes from {when} (the editor did not close "
            "normally).\n\nRestore them? (Discard keeps the project as it was last saved.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.document.restore_autosave()
        else:
            self.document.session.folder.discard_autosave()

    def _set_document(self, document: Document) -> None:
        self.document = document
        project = document.project
        document.projectChanged.connect(self._project_changed)
        document.statesChanged.connect(self._states_changed)
        document.modifiedChanged.connect(self._update_title)
        document.editFailed.connect(self._edit_failed)
        document.changedOnDisk.connect(self._changed_on_disk)
        self.render_pool = RenderPool(document, self.prefs.workers, self, self.prefs.runtime,
                                      self.prefs.farm)
        self.render_pool.stepsChanged.connect(self._render_steps)
        self.render_pool.runningChanged.connect(self._render_running)
        self.render_pool.progress.connect(self._render_progress)
        self.render_pool.frameDone.connect(self._frame_rendered)
        self.render_pool.frameFailed.connect(self._frame_failed)
        self.render_pool.finished.connect(self._render_finished)
        self.render_pool.crashed.connect(self._render_crashed)
        info = project.source.info
        self._grid = (project.frame_count, info.fps)
        self.timeline.set_frame_count(project.frame_count, info.fps)
        self.preview.set_output_size(*project.frame_size)
        self._frame_box.setMaximum(project.frame_count - 1)
        self._current = -1
        self._project_changed()
        self.set_current_frame(0)
        self.timeline.zoom_to_fit()
        self._update_enabled()
        self._update_title()
        self._log_earlier_failures()

    def _log_earlier_failures(self) -> None:
        assert self.document is not None
        errors = self.document.status.errors
        by_message: dict[str, list[int]] = {}
        for index in sorted(errors):
            by_message.setdefault(errors[index], []).append(index)
        for message, frames in by_message.items():
            spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in ranges(frames))
            self.log_panel.add(logging.ERROR, f"failed in an earlier render: frames {spans}: "
                                              f"{message}")

    def _close_document(self) -> bool:
        """Close the open project; False if the user chose to keep it open."""
        document = self.document
        if document is None:
            return True
        if document.modified:
            answer = QMessageBox.question(
                self, "Unsaved changes",
                f"Save the changes to {document.title} before closing it?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.Save and not self.save():
                return False
        self.stop_playback()
        self._stop_task()
        if self.render_pool is not None:
            self.render_pool.shutdown()
            self.render_pool.deleteLater()
            self.render_pool = None
        if not document.modified:
            document.session.folder.discard_autosave()
        document.close()
        document.deleteLater()
        self.document = None
        self.preview.set_frame(None, None, False)
        self.preview.set_mask(None)
        self._update_enabled()
        self._update_title()
        return True

    def new_from_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "New project from video", self._last_dir(), project_files.VIDEO_FILTER
        )
        if path:
            self.open_path(path)

    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, f"Open project (a folder ending in {SUFFIX})", self._last_dir()
        )
        if path:
            self.open_path(path)

    def save(self) -> bool:
        if self.document is None:
            return False
        try:
            try:
                self.document.save()
            except ProjectChangedError as exc:
                answer = QMessageBox.warning(
                    self, "Project changed on disk",
                    f"{exc}.\n\nOverwrite the changes made by the other program?",
                    QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel,
                )
                if answer != QMessageBox.StandardButton.Save:
                    return False
                self.document.save(overwrite=True)
        except SdhdError as exc:
            QMessageBox.critical(self, "Cannot save", f"{exc}\n\nYour changes are still open.")
            return False
        self.statusBar().showMessage(f"Saved {self.document.path}", 4000)
        return True

    def _changed_on_disk(self) -> None:
        """Another program (`sdhd` at a terminal, another editor) saved the project."""
        assert self.document is not None
        unsaved = self.document.modified
        text = (f"{self.document.title} was changed and saved by another program.\n\n"
                + ("Reload it? Your unsaved changes are replaced (Undo brings them back)."
                   if unsaved else "Reload it?"))
        answer = QMessageBox.question(
            self, "Project changed on disk", text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No if unsaved else QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.document.reload_from_disk()
            self.log_panel.add(logging.INFO, "reloaded the project as saved by another program")
        else:
            self.document.ignore_disk_version()

    def save_as_dialog(self) -> None:
        if self.document is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project as", self.document.path, f"SDHD project (*{SUFFIX})"
        )
        if not path:
            return
        if not path.endswith(SUFFIX):
            path += SUFFIX
        self.cancel_render_and_wait()
        try:
            with project_files.busy():
                self.document.save_as(path)
        except SdhdError as exc:
            QMessageBox.critical(self, "Cannot save", str(exc))
            return
        add_recent_file(self.settings, path)
        self._update_title()

    def export(self) -> None:
        if self.document is None:
            return
        self.cancel_render_and_wait()
        project = self.document.project
        default = os.path.splitext(project.source.path)[0] + f"-{project.frame_size[1]}p.mp4"
        result = run_export(self.document.session, self, default, self.prefs.runtime)
        self.document.reload_cache()  # the export rendered what was missing
        if result is not None:
            self.statusBar().showMessage(f"Exported {result.path}", 8000)

    def preferences_dialog(self) -> None:
        dialog = PreferencesDialog(self.prefs, self)
        if dialog.exec():
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: Preferences) -> None:
        old, self.prefs = self.prefs, prefs
        prefs.store(self.settings)
        self.loader.set_quick_upscaler(prefs.quick_preview)
        if prefs.quick_preview != old.quick_preview:
            self._request_frame()
        if self.render_pool is not None:
            self.render_pool.set_workers(prefs.workers)
            # Unloads the models (now, or when the running render ends): the next render
            # loads them on the new device, with the new tile size.
            self.render_pool.set_runtime(prefs.runtime)
            self.render_pool.set_farm(prefs.farm)
        elif prefs.runtime != old.runtime:
            registry.release_instances()
        if self.document is not None:
            self.document.set_autosave_seconds(prefs.autosave_seconds)
        if prefs.device != old.device:
            self._ask_device()

    def show_models(self) -> None:
        if self.models_window is None:
            self.models_window = ModelsWindow(self)
            self.models_window.modelsChanged.connect(self._models_changed)
        else:
            self.models_window.refresh()
        self.models_window.show()
        self.models_window.raise_()
        self.models_window.activateWindow()

    def show_live(self) -> None:
        if self.live_window is None:
            self.live_window = LiveWindow(self.prefs.runtime, self)
        self.live_window.show()
        self.live_window.raise_()
        self.live_window.activateWindow()

    def _models_changed(self) -> None:
        self.inspector.forget_checks()
        if self.document is not None:
            self.inspector.show_frame(self.document.project, self._current)

    def about(self) -> None:
        show_about(self, self.system_info)

    def _fill_recent_menu(self) -> None:
        self._recent_menu.clear()
        paths = recent_files(self.settings)
        for path in paths:
            action = self._recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not paths:
            self._recent_menu.addAction("No recent projects").setEnabled(False)

    def _last_dir(self) -> str:
        recent = recent_files(self.settings)
        return os.path.dirname(recent[0]) if recent else os.path.expanduser("~")

    # -- editing ------------------------------------------------------------------------------

    def add_keyframe(self, frame: int) -> None:
        if self.document is not None and self.document.project.keyframe_at(frame) is None:
            self.document.edit(f"Add keyframe at {frame}", edits.set_keyframe, frame)

    def remove_keyframe(self, frame: int) -> None:
        if self.document is not None and self.document.project.keyframe_at(frame) is not None:
            self.document.edit(f"Remove keyframe at {frame}", edits.remove_keyframe, frame)

    def set_cut(self, frame: int, on: bool) -> None:
        if self.document is not None and (frame in self.document.project.cuts) != on:
            label = f"Cut at {frame}" if on else f"Remove cut at {frame}"
            self.document.edit(label, edits.set_cut, frame, on)

    def toggle_cut(self) -> None:
        if self.document is not None:
            self.set_cut(self._current, self._current not in self.document.project.cuts)

    def add_keyframes_automatically(self) -> None:
        """Ask for the spacing and whether to find cuts, then place the keyframes."""
        if self.document is None or self.task is not None:
            return
        dialog = AutoKeyframesDialog(self.document.project, self)
        dialog.accepted.connect(lambda: self.place_keyframes(dialog.every(), dialog.find_cuts()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def place_keyframes(self, every: int, find_cuts: bool) -> None:
        """Keyframes every `every` frames and at every cut, known or (`find_cuts`) found by
        reading the video on a worker, as one undoable edit."""
        document = self.document
        if document is None or self.task is not None:
            return
        if not find_cuts:
            self._add_keyframes(every, [])
            return
        session = document.session
        count = document.project.frame_count
        self._run_task(
            BackgroundTask(session.detect_cuts, count, self),
            "Finding cuts", f"Reading {count} frames to find where shots change…",
            lambda cuts: self._add_keyframes(every, cuts),
        )

    def _add_keyframes(self, every: int, found: list[int]) -> None:
        if self.document is None:
            return
        cuts = sorted(set(found) | self.document.project.cuts)
        label = f"Add keyframes every {every}" + (f" and at {len(cuts)} cuts" if cuts else "")
        if self.document.edit(label, edits.add_keyframes, every, cuts):
            found_text = f"; found {len(found)} cut{'s' * (len(found) != 1)}" if found else ""
            self.statusBar().showMessage(
                f"{len(self.document.project.keyframes)} keyframes{found_text}", 8000
            )

    def track_mask(self, again: bool = False) -> None:
        """Carry the mask painted on the current frame by optical flow over the frames the mask
        panel asks for, on a worker; then one undoable edit sets the frames it reached.

        The tracking runs on a private Session over the same folder and cache that holds the
        project as it is now: edits made while it runs do not change what the worker reads."""
        document = self.document
        frame = self._current
        painted = document.project.mask_painted_on(frame) if document else None
        if document is None or painted is None or self.task is not None:
            return
        count = document.project.frame_count
        end = self.mask_panel.span_end(frame, count)
        start = self.mask_panel.track_start(frame)
        if not again and painted.track and (painted.first, painted.end) == (start, end):
            return
        tracker = Session(document.session.folder, document.project, None, save_edits=False)

        def work(token: CancelToken) -> TrackReport:
            return tracker.track_mask(frame, painted.digest, end, start, painted.inpainter,
                                      token)

        self._run_task(
            BackgroundTask(work, max(1, end - start), self),
            "Tracking the mask", f"Tracking the mask of frame {frame} over frames "
            f"{start}–{end}…",
            lambda report: self._tracked(painted, report),
        )

    def _tracked(self, painted: MaskRef, report: TrackReport) -> None:
        document = self.document
        if document is None:
            return
        now = document.project.mask_painted_on(painted.frame)
        if now is None or now.digest != painted.digest:
            self.log_panel.add(logging.WARNING, f"the mask of frame {painted.frame} changed "
                                                "while it was tracked; tracking not applied")
            return
        document.edit(f"Track mask on frame {painted.frame}", edits.set_mask, painted.frame,
                      painted.digest, report.last, painted.inpainter, track=True,
                      start=report.first)
        for warning in report.warnings:
            self.log_panel.add(logging.WARNING, warning)
        summary = f"Mask of frame {painted.frame} tracked over frames {report.first}–{report.last}"
        self.statusBar().showMessage(
            summary + (f"; {report.warnings[0]}" if report.warnings else ""), 10000
        )
        self.mask_panel.show_track_warnings(report.warnings)

    def _run_task(
        self, task: BackgroundTask, title: str, label: str, done: Callable[[Any], None],
        steps: str = "",
    ) -> None:
        """Run `task` with a progress dialog (`steps`: see `progress_dialog`); `done(result)`
        on the UI thread if it finished and was not given up meanwhile (see `_stop_task`)."""
        self.task = task

        def finished(result: object) -> None:
            if self.task is task:
                done(result)

        def failed(message: str) -> None:
            if self.task is task:
                self.log_panel.add(logging.ERROR, f"{title.lower()} failed: {message}")
                QMessageBox.warning(self, f"{title} failed", message)

        def ended(*_: object) -> None:
            if self.task is task:
                self.task = None
                self._update_enabled()
            task.deleteLater()

        task.finished.connect(finished)
        task.failed.connect(failed)
        task.cancelled.connect(lambda: self.statusBar().showMessage(f"{title}: cancelled", 5000))
        for signal in (task.finished, task.failed, task.cancelled):
            signal.connect(ended)
        progress_dialog(self, task, title, label, steps)
        task.start()
        self._update_enabled()

    def _settings_edited(self, frame: int, values: dict) -> None:
        if self.document is None:
            return
        names = ", ".join(values)
        if self.document.project.keyframe_at(frame) is None and frame == 0:
            done = self.document.edit(f"Change {names}", edits.set_defaults, values)
        else:
            done = self.document.edit(f"Change {names} at {frame}", edits.set_keyframe, frame,
                                      values)
        if not done:  # the form shows the stored value again
            self.inspector.show_frame(self.document.project, self._current)

    def _interpolation_toggled(self, frame: int, name: str, on: bool) -> None:
        if self.document is None:
            return
        self.document.edit(
            f"{'Ramp' if on else 'Hold'} {name} at {frame}", edits.set_ramp, frame, name, on
        )

    def _mask_painted(self, mask: np.ndarray) -> None:
        """One stroke (or clear/invert) is one undo step: store the PNG, point the frame at it."""
        if self.document is None:
            return
        frame = self._current
        project = self.document.project
        painted = project.mask_painted_on(frame)
        if not mask.any():
            if painted is not None:
                self.document.edit(f"Clear mask at {frame}", edits.remove_mask, frame)
            return
        digest = self.document.store_mask(encode_png(mask))
        if digest is None:
            return
        end = self.mask_panel.span_end(frame, project.frame_count)
        # With tracking on, the render carries the new mask; Track now also finds where
        # tracking is lost.
        tracking = self.mask_panel.tracking()
        self.document.edit(f"Paint mask at {frame}", edits.set_mask, frame, digest, end,
                           painted.inpainter if painted else None, track=tracking,
                           start=self.mask_panel.track_start(frame) if tracking else None)

    def _mask_span_changed(self) -> None:
        if self.document is None:
            return
        project = self.document.project
        painted = project.mask_painted_on(self._current)
        if painted is None:
            return
        end = self.mask_panel.span_end(painted.frame, project.frame_count)
        if end != painted.end or painted.track:  # held as painted from now on
            self.document.edit(f"Mask at {painted.frame} until {end}", edits.set_mask,
                               painted.frame, painted.digest, end, painted.inpainter)

    def remove_mask(self, frame: int) -> None:
        if self.document is None:
            return
        project = self.document.project
        mask = project.mask_painted_on(frame) or project.mask_at(frame)
        if mask is not None:
            self.document.edit(f"Remove mask at {mask.frame}", edits.remove_mask, mask.frame)

    def undo(self) -> None:
        if self.document is not None:
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None:
            self.document.redo()

    def _toggle_tool(self, tool: str) -> None:
        self._side_tabs.setCurrentWidget(self.mask_panel)
        self.mask_panel.set_tool(None if self.mask_panel.tool() == tool else tool)

    def _edit_failed(self, message: str) -> None:
        self.log_panel.add(logging.ERROR, message)
        QMessageBox.warning(self, "Edit not applied", message)

    # -- rendering ----------------------------------------------------------------------------

    def render_frames(self, frames: range | None) -> None:
        if self.render_pool is not None:
            self.render_pool.render(frames)

    def render_selection(self) -> None:
        selection = self.timeline.selection()  # the action is enabled only with one
        if selection is not None:
            self.render_frames(range(selection[0], selection[1] + 1))

    def cancel_render(self) -> None:
        if self.render_pool is not None:
            self.render_pool.cancel()

    def cancel_render_and_wait(self) -> None:
        if self.render_pool is not None and self.render_pool.is_running():
            self.render_pool.shutdown()

    def _render_running(self, running: bool) -> None:
        self._update_enabled()
        if running:
            self._render_label.setText("Rendering…")

    def _render_steps(self, steps: dict[int, tuple[int, int]]) -> None:
        shown = [f"frame {i}: step {step}/{of}" for i, (step, of) in sorted(steps.items())[:3]]
        if len(steps) > 3:
            shown.append(f"+{len(steps) - 3} more")
        self._step_label.setText(" · ".join(shown))

    def _render_progress(self, progress: Progress) -> None:
        eta = clock(progress.eta) if progress.eta is not None else "–"
        failed = f", {progress.failed} failed" if progress.failed else ""
        self._render_label.setText(
            f"Rendering {progress.done}/{progress.total}{failed} · "
            f"{progress.rate:.2f} frames/s · {eta} left"
        )

    def _render_finished(self, summary) -> None:
        failed = f", {summary.failed} failed (see the log)" if summary.failed else ""
        verb = "Render stopped" if summary.cancelled else "Render finished"
        self._render_label.setText(
            f"{verb}: {summary.rendered} frames in {clock(summary.seconds)}{failed}"
        )

    def _render_crashed(self, message: str) -> None:
        self._render_label.setText("Render failed")
        self.log_panel.add(logging.ERROR, f"render failed: {message}")
        QMessageBox.critical(self, "Render failed", message)

    def _frame_rendered(self, index: int) -> None:
        if index == self._current:
            self._request_frame()

    def _frame_failed(self, index: int, message: str) -> None:
        self.log_panel.add(logging.ERROR, f"frame {index}: {message}")

    # -- frames and playback ------------------------------------------------------------------

    def set_current_frame(self, index: int) -> None:
        if self.document is None:
            return
        index = max(0, min(int(index), self.document.project.frame_count - 1))
        if index == self._current:
            return
        self._current = index
        self.timeline.set_current_frame(index)
        with QSignalBlocker(self._frame_box):
            self._frame_box.setValue(index)
        fps = self.document.project.source.info.fps
        self._time_label.setText(frame_time(index, fps))
        self.inspector.show_frame(self.document.project, index)
        self.mask_panel.show_frame(self.document.project, index)
        if self.render_pool is not None:
            self.render_pool.set_focus(index)
        self._request_frame()

    def current_frame(self) -> int:
        return self._current

    def step(self, delta: int) -> None:
        self.stop_playback()
        self.set_current_frame(self._current + delta)

    def go_to_end(self) -> None:
        if self.document is not None:
            self.set_current_frame(self.document.project.frame_count - 1)

    def toggle_playback(self) -> None:
        if self._playback.isActive():
            self.stop_playback()
        elif self.document is not None:
            start = 0 if self._current >= self.document.project.frame_count - 1 else self._current
            self._play_started = (time.monotonic(), start)
            fps = float(self.document.project.source.info.fps)
            self._playback.start(max(1, round(1000 / fps / 2)))
            self._play_button.setText("⏸")

    def stop_playback(self) -> None:
        self._playback.stop()
        self._play_button.setText("▶")

    def _play_tick(self) -> None:
        if self.document is None or self._play_started is None:
            self.stop_playback()
            return
        started, first = self._play_started
        fps = float(self.document.project.source.info.fps)
        # Frames follow the clock, so playback keeps the source's speed even when a frame is
        # slow to load (it is skipped rather than slowing everything down).
        frame = first + int((time.monotonic() - started) * fps)
        last = self.document.project.frame_count - 1
        self.set_current_frame(min(frame, last))
        if frame >= last:
            self.stop_playback()

    def _request_frame(self) -> None:
        if self.document is None or self._current < 0:
            return
        project = self.document.project
        status = self.document.status
        key = status.keys[self._current]
        mask = project.mask_at(self._current)
        folder = self.document.session.folder
        carried = mask_source(project, folder, mask, self._current).key if mask else None
        self.loader.request(FrameRequest(
            index=self._current,
            source_path=project.source.path,
            info=project.source.info,
            cache=self.document.session.cache,
            key=key,
            done=status.state(self._current) == FrameState.DONE,
            mask_path=str(folder.mask_path(mask.digest)) if mask else None,
            size=project.frame_size,
            mask_key=carried,
        ))

    def _frame_loaded(self, frame: LoadedFrame) -> None:
        if self.document is None or frame.request.cache is not self.document.session.cache:
            return  # from a project that is closed now
        index = frame.request.index
        label = f"frame {index}"
        if frame.request.mask_key is not None:
            label += " · tracked mask" if frame.mask_carried else " · mask not carried here yet"
        if frame.error:
            label += f" — {frame.error}"
            self.statusBar().showMessage(frame.error, 5000)
        self.preview.set_frame(frame.source, frame.result, frame.result_is_preview, label)
        self.preview.set_mask(frame.mask)
        self.frameShown.emit(index)

    # -- reacting to the document -------------------------------------------------------------

    def _project_changed(self) -> None:
        document = self.document
        if document is None:
            return
        project = document.project
        self._follow_frame_grid(project)
        self.source_panel.show_project(project)
        self.timeline.set_markers(
            [kf.frame for kf in project.keyframes],
            [MaskMarker(m.frame, m.end, m.first, m.track) for m in project.masks],
            project.cuts,
        )
        self._states_changed()
        if self._current >= 0:
            self.inspector.show_frame(project, self._current)
            self.mask_panel.show_frame(project, self._current)
            self._request_frame()
        self._update_enabled()

    def _follow_frame_grid(self, project: Project) -> None:
        """After the source's frames were made anew (or that was undone), the timeline counts
        the new frames and the playhead stays at the same time."""
        grid = (project.frame_count, project.source.info.fps)
        if grid == self._grid:
            return
        # Before the timeline learns the new count: it moves the playhead itself.
        target = min(round(max(self._current, 0) * grid[1] / self._grid[1]), grid[0] - 1)
        self._grid = grid
        self.timeline.set_frame_count(*grid)
        self._frame_box.setMaximum(grid[0] - 1)
        self._current = -1
        self.set_current_frame(target)
        self.timeline.zoom_to_fit()

    def set_audio_track(self, track: int) -> None:
        """Carry the source's audio track `track` (1-based) in the output: one undoable edit."""
        if self.document is not None:
            self.document.edit(f"Audio track {track}", edits.set_output, audio_track=track)

    def set_source_frames(self, choices: dict[str, str]) -> None:
        """Make the project's frames from the source as `choices` say, on a worker (inverse
        telecine reads the whole file), then as one undoable edit."""
        document = self.document
        if document is None or self.task is not None:
            return
        source = document.project.source

        def work(token: CancelToken) -> VideoInfo:
            return conditioned_info(source.path, source.info, choices, task.stepping(token))

        task = BackgroundTask(work, parent=self)
        self._run_task(
            task, "Source frames", "Making the source's frames…",
            lambda info: document.edit("Source frames", edits.set_source_frames, info),
            _MATCHING,
        )

    def _states_changed(self) -> None:
        if self.document is None:
            return
        status = self.document.status
        self.timeline.set_states(status.states, status.errors)
        counts = status.counts()
        shown = [f"{counts[s.label]} {s.label}" for s in FrameState if counts[s.label]]
        self._counts_label.setText(" · ".join(shown))
        self._cache_label.setText(f"Cache {size_text(self.document.cache_view.bytes)}")

    def _stop_task(self) -> None:
        """Cancel a running task and wait for its thread; whatever it ends with is not applied
        (the project it was for may be closing)."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            task.wait()

    def _update_title(self, *_: object) -> None:
        if self.document is None:
            self.setWindowTitle("SDHD Studio")
        else:
            star = "*" if self.document.modified else ""
            self.setWindowTitle(f"{self.document.title}{star} — SDHD Studio")
        self._update_enabled()

    def _update_enabled(self) -> None:
        document = self.document
        has = document is not None
        running = self.render_pool is not None and self.render_pool.is_running()
        self.act_render_sel.setEnabled(has and self.timeline.selection() is not None)
        for action in (self.act_save_as, self.act_export, self.act_render,
                       self.act_play, self.act_prev, self.act_next, self.act_first, self.act_last,
                       self.act_key, self.act_cut, self.act_brush, self.act_eraser):
            action.setEnabled(has)
        self.act_auto_keys.setEnabled(has and self.task is None)
        self.act_save.setEnabled(has and document.modified)
        self.act_cancel.setEnabled(running)
        history = document.session.history if document else None
        undo = history.undo_label if history else None
        redo = history.redo_label if history else None
        self.act_undo.setEnabled(undo is not None)
        self.act_redo.setEnabled(redo is not None)
        self.act_undo.setText(f"&Undo {undo}" if undo else "&Undo")
        self.act_redo.setText(f"&Redo {redo}" if redo else "&Redo")

    # -- system info, drag and drop, closing --------------------------------------------------

    def _ask_device(self) -> None:
        """Find (in a child process, from a worker) what the device preference resolves to."""
        self._device_label.setText("Compute: checking…")
        preference = self.prefs.device
        self._info_pool.run(lambda: self._collect_info(preference))

    def _collect_info(self, preference: str) -> None:
        try:
            self._systemInfoReady.emit(collect_system_info(preference))
        except Exception:  # noqa: BLE001 - the status bar just keeps saying "checking"
            log.exception("could not collect system information")

    def _info_ready(self, info: SystemInfo) -> None:
        if info.preference != self.prefs.device:
            return  # the preference changed while this was asked; the newer answer follows
        self.system_info = info
        self._device_label.setText(f"Compute: {device_text(info)}")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            path = urls[0].toLocalFile()
            QTimer.singleShot(0, self, lambda: self.open_path(path))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self._close_document():
            event.ignore()
            return
        self.shutdown()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        event.accept()

    def shutdown(self) -> None:
        """Stop every background worker (also for windows closed without a close event)."""
        self.stop_playback()
        self._stop_task()
        if self.render_pool is not None:
            self.render_pool.shutdown()
        self.loader.close()
        self._info_pool.waitForDone()
        if self.models_window is not None:
            self.models_window.shutdown()
        if self.live_window is not None:
            self.live_window.shutdown()
        logging.getLogger("sdhd_studio").removeHandler(self._log_bridge.handler)


def _legend_html() -> str:
    cells = "".join(
        f"<span style='color:{STATE_COLOURS[state].name()}'>■</span> {state.label}&nbsp;&nbsp;"
        for state in FrameState
    )
    markers = "".join(
        f"<span style='color:{colour.name()}'>{symbol}</span> {name}&nbsp;&nbsp;"
        for name, (symbol, colour) in MARKER_COLOURS.items()
    )
    return f"<small>{cells}&nbsp;&nbsp;{markers}</small>"

