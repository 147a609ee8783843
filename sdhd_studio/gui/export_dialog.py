"""Exporting the project as an MP4: the options dialog, the background job and the whole flow.

`run_export` is what the editor's Export command calls: the dialog, then a modal progress
dialog while `render.export.export_video` runs on a worker thread, then the outcome. Nothing
is written under the chosen name until the export succeeded (the writer uses temp names).

The frame rate is the source's times a multiplier, or a target rate (50, 59.94, any); either
way the output frames are the positions `core.timing` places in the source, so the dialog
counts them, and those not rendered yet, from the plan for the chosen rate (on its worker: a
long video has many).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QSpacerItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import ExportError, SdhdError
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.core.project import PRESETS, Project
from sdhd_studio.core.timecode import clock
from sdhd_studio.gui.task import BackgroundTask
from sdhd_studio.gui.workers import WorkerPool
from sdhd_studio.media.container import OUTPUT_FORMATS, output_format
from sdhd_studio.media.encoders import Encoder, available_encoders, find_encoder, problem
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.export import ExportResult, export_video
from sdhd_studio.render.plan import Plan
from sdhd_studio.render.session import Session

log = logging.getLogger(__name__)

_MULTIPLIERS = (1, 2, 3, 4)
# Target rates offered besides the multiples of the source's; NTSC's are n * 1000/1001.
TARGET_RATES = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(50), Fraction(60000, 1001), Fraction(60),
)
_NTSC_BASES = (24, 30, 48, 60, 120, 240)
CUSTOM = "custom"  # the rate combo's entry for a typed rate
_CRF_HINT = "lower = better quality, bigger file; 18 ≈ visually lossless"
_ERROR_COLOUR = "#d9534f"


@dataclass(frozen=True)
class ExportOptions:
    path: str  # absolute, ends in an extension media.container writes
    codec: str  # a media.encoders name
    crf: int
    preset: str
    fps_multiplier: int
    audio: bool
    allow_preview: bool
    target_fps: Fraction | None = None  # set: this rate instead of the multiplier's


@dataclass(frozen=True)
class FrameCount:
    """The output frames at one frame rate, as the export will write them."""

    rate: tuple[int, Fraction | None]  # the (multiplier, target fps) it was counted for
    total: int
    missing: int  # not rendered yet
    seconds: float
    interpolators: tuple[str, ...]  # the backends that make its in-between frames
    problem: str | None = None  # why it cannot be counted (or exported)


class _Inspection(QObject):
    """Carries what the dialog learns off the UI thread back to it (queued signals)."""

    encoders = Signal(object)  # list[Encoder]
    frames = Signal(object)  # FrameCount


class ExportDialog(QDialog):
    """Asks where and how to export; `options()` holds the answer once it is accepted."""

    def __init__(
        self,
        session: Session,
        parent: QWidget | None = None,
        default_path: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export video")
        project = session.project
        self._project = project
        self._source = project.source.path
        output = project.output
        info = project.source.info

        self.path_edit = QLineEdit(default_path or _default_path(self._source))
        self.path_edit.setMinimumWidth(420)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        self.path_error = QLabel()
        self.path_error.setStyleSheet(f"color: {_ERROR_COLOUR}")
        self.path_error.setWordWrap(True)
        self.path_error.hide()
        self.path_edit.textEdited.connect(self.path_error.hide)

        self.codec_combo = QComboBox()
        self._wanted_codec = output.codec
        project_encoder = find_encoder(output.codec)
        # Until the probe answers, the project's own codec is the only choice, so a user in a
        # hurry can export at once; the writer checks it either way.
        self.codec_combo.addItem(
            project_encoder.label if project_encoder else output.codec, output.codec
        )
        self.codec_combo.currentIndexChanged.connect(self._codec_changed)
        self.codec_hint = _hint("Checking hardware encoders…")

        self.crf_spin = QSpinBox()
        self.crf_spin.setRange(0, 51)
        self.crf_spin.setValue(output.crf)
        self.crf_hint = _hint(_CRF_HINT, wrap=False)  # short; wrapping would reserve two lines

        self.preset_combo = QComboBox()
        self.preset_combo.addItems(PRESETS)
        self.preset_combo.setCurrentText(output.preset)
        self._codec_changed()

        self.fps_combo = QComboBox()
        for multiplier in _MULTIPLIERS:
            self.fps_combo.addItem(
                f"×{multiplier} ({_fps_text(info.fps * multiplier)} fps)", multiplier
            )
        self.fps_combo.insertSeparator(self.fps_combo.count())
        multiples = {info.fps * m for m in _MULTIPLIERS}
        for rate in TARGET_RATES:
            if rate not in multiples:  # the same frames as the multiplier above
                self.fps_combo.addItem(f"{_fps_text(rate)} fps", str(rate))
        self.fps_combo.addItem("Other…", CUSTOM)
        self.custom_fps = QDoubleSpinBox(minimum=1, maximum=240, decimals=3, suffix=" fps")
        self.custom_fps.setKeyboardTracking(False)
        self.custom_fps.setToolTip("Any rate from 1 to 240 fps; 23.976, 29.97 and 59.94 are "
                                   "taken as NTSC's exact rates")
        self.custom_fps.setValue(float(output.target_fps or info.fps))
        self.custom_fps.valueChanged.connect(self._rate_changed)
        self.fps_hint = _hint("")
        target = output.target_fps
        if target is None:
            row = self.fps_combo.findData(output.fps_multiplier)
        elif target in multiples:
            row = self.fps_combo.findData(int(target / info.fps))
        else:
            row = self.fps_combo.findData(str(target))
            row = row if row >= 0 else self.fps_combo.findData(CUSTOM)
        self.fps_combo.setCurrentIndex(row)
        self.fps_combo.currentIndexChanged.connect(self._rate_changed)

        self.audio_box = QCheckBox("Include the source audio")
        self.audio_reason = _hint("the source has no audio")
        if not info.audio:
            self.audio_box.setEnabled(False)
        else:
            self.audio_box.setChecked(output.audio)
            if len(info.audio) > 1:  # say which: a disc's other language is a Source choice
                track = output.audio_track
                self.audio_reason.setText(f"{info.audio[track - 1].describe(track)}; the track "
                                          "is chosen in the Source panel")
            else:
                self.audio_reason.hide()

        self.preview_box = QCheckBox("Fill frames that are not rendered with a quick preview")
        self.preview_box.toggled.connect(self._show_frames_line)
        self.frames_line = QLabel()
        self.frames: FrameCount | None = None  # at the chosen rate, once counted

        width, height = project.frame_size
        size = QLabel(f"{width} × {height}")
        size.setToolTip("The output size is set in the project's output settings.")

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.export_button.setDefault(True)
        self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        audio_row = QHBoxLayout()
        audio_row.addWidget(self.audio_box)
        audio_row.addWidget(self.audio_reason, 1)
        form = QFormLayout()
        # Line edits grow with the dialog; combos and the spin box keep their natural width.
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Save as:", _stacked(path_row, self.path_error))
        form.addRow("Codec:", _stacked(self.codec_combo, self.codec_hint))
        form.addRow("Quality (CRF):", _stacked(self.crf_spin, self.crf_hint))
        form.addRow("Speed preset:", self.preset_combo)
        rate_row = QHBoxLayout()
        rate_row.addWidget(self.fps_combo)
        rate_row.addWidget(self.custom_fps)
        rate_row.addStretch(1)
        form.addRow("Frame rate:", _stacked(rate_row, self.fps_hint))
        form.addRow("Size:", size)
        form.addRow("Audio:", audio_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(self.frames_line)
        layout.addWidget(self.preview_box)
        layout.addSpacing(8)
        layout.addStretch(1)  # room left by a shorter note goes below, not between rows
        layout.addWidget(self.buttons)

        # The pool is made before the messenger so that, if the dialog is ever destroyed
        # without closing, the pool (deleted first, waiting for its work) outlives nothing
        # the work still uses.
        self._pool = WorkerPool(1, self)
        self._inspection = _Inspection(self)
        self._inspection.encoders.connect(self._fill_codecs)
        self._inspection.frames.connect(self._counted)
        self._counter = _FrameCounter(session.folder, session.cache, self._inspection)
        self._pool.run(_list_encoders(self._inspection))
        self._rate_changed()

    # -- public ----------------------------------------------------------------------------

    def options(self) -> ExportOptions:
        multiplier, target = self._rate()
        return ExportOptions(
            path=self._path(),
            codec=self.codec_combo.currentData(),
            crf=self.crf_spin.value(),
            preset=self.preset_combo.currentText(),
            fps_multiplier=multiplier,
            audio=self.audio_box.isEnabled() and self.audio_box.isChecked(),
            allow_preview=self.preview_box.isChecked(),
            target_fps=target,
        )

    def accept(self) -> None:
        path = self._path()
        error = path_problem(path, self._source, self.codec_combo.currentData())
        if error is not None:
            self._show_path_error(error)
            return
        if os.path.exists(path) and not self._confirm_replace(path):
            return
        self.path_edit.setText(path)
        super().accept()

    def done(self, result: int) -> None:
        # The probe is quick (cached after the first time); waiting keeps no thread behind.
        self._pool.waitForDone()
        super().done(result)

    # -- private ---------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export video",
            self._path() or os.path.dirname(self._source),
            f"Video ({' '.join('*' + ext for ext in OUTPUT_FORMATS)})",
            # Replacing is asked once, by Export, for a typed name and a chosen one alike.
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.path_edit.setText(self._path(path))
            self.path_error.hide()

    def _path(self, text: str | None = None) -> str:
        return _normalised(self.path_edit.text() if text is None else text,
                           os.path.dirname(self._source))

    def _show_path_error(self, message: str) -> None:
        self.path_error.setText(message)
        self.path_error.show()
        # A message of two lines needs the dialog taller than it was laid out for.
        layout = self.layout()
        layout.activate()
        height = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else layout.totalSizeHint().height()
        if height > self.height():
            self.resize(self.width(), height)
        self.path_edit.setFocus()
        self.path_edit.selectAll()

    def _confirm_replace(self, path: str) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Replace file?",
            f"{os.path.basename(path)} already exists in {os.path.dirname(path)}.",
            parent=self,
        )
        box.setInformativeText("Exporting replaces it once the new video is complete.")
        replace = box.addButton("Replace", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is replace

    def _fill_codecs(self, encoders: list[Encoder]) -> None:
        if not encoders:  # ffmpeg could not be asked; the project's codec stays the choice
            self.codec_hint.setText("Could not check which encoders work here (see the log).")
            return
        wanted = self._wanted_codec
        self.codec_combo.blockSignals(True)
        self.codec_combo.clear()
        for encoder in encoders:
            self.codec_combo.addItem(encoder.label, encoder.name)
        self.codec_combo.blockSignals(False)
        index = self.codec_combo.findData(wanted)
        wanted_encoder = find_encoder(wanted)
        if index < 0 and wanted_encoder is not None:
            index = self.codec_combo.findData(wanted_encoder.name)  # "libx264" in old projects
        notes = []
        if index < 0:
            why = problem(wanted_encoder) if wanted_encoder else "it is not a known encoder"
            name = wanted_encoder.label if wanted_encoder else repr(wanted)
            notes.append(f"The project's codec, {name}, cannot be used here: {why}.")
            index = 0
        if not any(encoder.hardware for encoder in encoders):
            notes.append("No hardware encoder works on this machine.")
        self.codec_combo.setCurrentIndex(index)
        self._codec_changed()
        self.codec_hint.setText(" ".join(notes))
        self.codec_hint.setVisible(bool(notes))

    def _codec_changed(self) -> None:
        encoder = find_encoder(self.codec_combo.currentData() or "")
        if encoder is None or encoder.has_presets:
            self.preset_combo.setEnabled(True)
            self.preset_combo.setToolTip("")
        else:
            self.preset_combo.setEnabled(False)
            self.preset_combo.setToolTip(f"{encoder.label} has no speed presets")

    def _rate(self) -> tuple[int, Fraction | None]:
        """The chosen (fps multiplier, target fps)."""
        choice = self.fps_combo.currentData()
        if isinstance(choice, int):
            return choice, None
        if choice == CUSTOM:
            return 1, rate_from_number(self.custom_fps.value())
        return 1, Fraction(choice)

    def _rate_changed(self) -> None:
        """Count the frames at the chosen rate (on the worker); the lines say so meanwhile."""
        self.custom_fps.setVisible(self.fps_combo.currentData() == CUSTOM)
        rate = self._rate()
        self.frames = None
        self.fps_hint.setText("Counting the output frames…")
        self._show_frames_line()
        self._pool.run(self._counter.work(rate, _at_rate(self._project, *rate)))

    def _counted(self, count: FrameCount) -> None:
        if count.rate != self._rate():
            return  # the choice changed since; its own count follows
        self.frames = count
        if count.problem is not None:
            self.fps_hint.setText(f"⚠ {count.problem}")
        else:
            how = (f"; in-between frames made by {', '.join(count.interpolators)}"
                   if count.interpolators else "")
            self.fps_hint.setText(
                f"{count.total} frames, {clock(count.seconds, hundredths=True)}{how}"
            )
        self._show_frames_line()

    def _show_frames_line(self) -> None:
        if self.frames is None:
            self.preview_box.setEnabled(False)
            self.frames_line.setText("Counting the frames not rendered yet…")
            return
        missing, total = self.frames.missing, self.frames.total
        self.preview_box.setEnabled(missing > 0)  # nothing to fill
        if self.frames.problem is not None:
            text = "The frames cannot be counted at this frame rate."
        elif not missing:
            text = f"All {total} frames are rendered."
        elif self.preview_box.isChecked():
            text = (
                f"{missing} of {total} frames are not rendered yet; they will be filled with a "
                "quick preview."
            )
        else:
            text = (
                f"{missing} of {total} frames are not rendered yet; Export renders them first."
            )
        self.frames_line.setText(text)


def _at_rate(project: Project, multiplier: int, target: Fraction | None) -> Project:
    output = dataclasses.replace(project.output, fps_multiplier=multiplier, target_fps=target)
    return dataclasses.replace(project, output=output)


class _FrameCounter:
    """Counts a project's output frames, and those not rendered, on the dialog's worker."""

    def __init__(self, folder: ProjectFolder, cache: FrameCache, inspection: _Inspection) -> None:
        self._folder = folder
        self._cache = cache
        self._inspection = inspection
        self._cached: set[str] | None = None  # read once; only the one worker thread uses it

    def work(self, rate: tuple[int, Fraction | None], project: Project) -> Callable[[], None]:
        def count() -> None:
            try:
                found = self._count(rate, project)
            except SdhdError as exc:
                found = FrameCount(rate, 0, 0, 0.0, (), str(exc))
            except Exception as exc:  # noqa: BLE001 - a worker thread must not raise into Qt
                log.exception("could not count the output frames")
                found = FrameCount(rate, 0, 0, 0.0, (), f"unexpected error: {exc}")
            self._inspection.frames.emit(found)

        return count

    def _count(self, rate: tuple[int, Fraction | None], project: Project) -> FrameCount:
        plan = Plan(project, self._folder)
        if self._cached is None:
            self._cached = self._cache.keys()
        outputs = plan.outputs  # one key per output frame: core.timing's positions
        settings = {pair.interpolator: pair.settings for pair in plan.pairs}
        unusable = [
            f"{name} cannot run here: {reason}" for name, values in sorted(settings.items())
            if (reason := registry.get("interpolate", name).unusable_reason(values))
        ]
        return FrameCount(
            rate, len(outputs), sum(key not in self._cached for key in outputs),
            len(outputs) / project.output.fps(project.source.info), tuple(sorted(settings)),
            "; ".join(unusable) or None,
        )


def rate_from_number(value: float) -> Fraction:
    """A typed frame rate as an exact fraction: 59.94 (or 59.94006) means NTSC's 60000/1001,
    as it does to every player."""
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - float(ntsc)) < 0.006:
            return ntsc
    return Fraction(value).limit_denominator(1000)


def _list_encoders(inspection: _Inspection) -> Callable[[], None]:
    # A worker thread must not raise into Qt: failures are logged and the dialog says so.
    def work() -> None:
        try:
            encoders = available_encoders()
        except Exception:  # noqa: BLE001
            log.exception("could not list the video encoders")
            encoders = []
        inspection.encoders.emit(encoders)

    return work


def path_problem(path: str, source: str, codec: str) -> str | None:
    """Why the video cannot be written at `path` (absolute) with the encoder `codec`, or
    None."""
    if not path:
        return "Choose where to save the video."
    encoder = find_encoder(codec)
    try:  # the container the extension names, and whether it carries the codec
        output_format(path, encoder.codec if encoder else "h264")
    except ExportError as exc:
        text = str(exc)
        return f"{text[:1].upper()}{text[1:]}."
    if os.path.isdir(path):
        return f"{path} is a folder; add a file name."
    if os.path.exists(source) and os.path.exists(path) and os.path.samefile(path, source):
        return "That is the source video; choose another name."
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"The folder {folder} does not exist."
    try:
        # Trying is the only sure test: root passes os.access, read-only mounts and sysfs don't.
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return f"The folder {folder} is not writable ({exc.strerror})."
    return None


def _normalised(text: str, folder: str) -> str:
    """An absolute path (a relative one is taken from `folder`, not from wherever the editor
    was started); a name without any extension gets .mp4."""
    text = text.strip()
    if not text:
        return ""
    path = Path(folder) / Path(text).expanduser()
    if not path.suffix:
        path = path.with_suffix(".mp4")
    return os.path.normpath(path)


def _default_path(source: str) -> str:
    path = Path(source)
    return str(path.with_name(f"{path.stem}_hd.mp4"))


def _fps_text(fps: Fraction) -> str:
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")


def _stacked(field: QWidget | QLayout, note: QLabel) -> QVBoxLayout:
    """A field with its note right under it."""
    column = QVBoxLayout()
    column.setSpacing(2)
    if isinstance(field, QLayout):
        column.addLayout(field)
    else:
        column.addWidget(field, 0, Qt.AlignmentFlag.AlignLeft)
    column.addWidget(note)
    return column


def _hint(text: str, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    # Expanding, so a note takes the row's whole width rather than its field's.
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class ExportJob(BackgroundTask):
    """Runs `export_video` on a worker thread; `cancel()` stops it within one frame. Its
    progress is output frames written of output frames in all; it finishes with the
    ExportResult."""

    def __init__(
        self,
        session: Session,
        options: ExportOptions,
        parent: QObject | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        """`runtime`: where frames still to render run their learned backends."""

        def work(cancel: CancelToken) -> ExportResult:
            with session.exclusive(wait=False):  # not while another process renders it
                return export_video(
                    session,
                    options.path,
                    allow_preview=options.allow_preview,
                    on_progress=self.report,
                    cancel=cancel,
                    codec=options.codec,
                    crf=options.crf,
                    preset=options.preset,
                    fps_multiplier=options.fps_multiplier,
                    target_fps=options.target_fps,
                    audio=options.audio,
                    runtime=runtime,
                )

        super().__init__(work, parent=parent)


def run_export(
    session: Session,
    parent: QWidget,
    default_path: str | None = None,
    runtime: Runtime | None = None,
) -> ExportResult | None:
    """Ask for the options, export with a progress dialog, then report; None when it did not
    finish (closed, cancelled or failed). Missing frames render on `runtime`."""
    dialog = ExportDialog(session, parent, default_path)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    options = dialog.options()
    dialog.deleteLater()
    if not accepted:
        return None

    job = ExportJob(session, options, parent, runtime)
    progress = _progress_dialog(parent)
    cancel_button = QPushButton("Cancel")
    progress.setCancelButton(cancel_button)
    outcome: dict[str, object] = {}
    loop = QEventLoop()

    def advanced(written: int, total: int) -> None:
        progress.setMaximum(total)
        progress.setValue(written)
        if not cancel_button.isEnabled():
            return
        if written >= total:
            progress.setLabelText("Finishing the video file…")
        else:
            progress.setLabelText(f"Rendering and encoding frame {written + 1} of {total}")

    def cancelled_by_user() -> None:
        job.cancel()
        cancel_button.setEnabled(False)
        progress.setLabelText("Cancelling…")

    def ended(kind: str, value: object = None) -> None:
        outcome[kind] = value
        loop.quit()

    job.progress.connect(advanced)
    job.finished.connect(lambda result: ended("result", result))
    job.failed.connect(lambda message: ended("error", message))
    job.cancelled.connect(lambda: ended("cancelled"))
    progress.canceled.connect(cancelled_by_user)
    progress.show()
    job.start()
    loop.exec()
    progress.canceled.disconnect(cancelled_by_user)  # closing it emits canceled too
    progress.close()
    progress.deleteLater()
    job.deleteLater()

    if "error" in outcome:
        _show_failure(parent, options.path, str(outcome["error"]))
        return None
    result = outcome.get("result")
    if isinstance(result, ExportResult):
        _show_success(parent, result)
        return result
    return None


def _progress_dialog(parent: QWidget) -> QProgressDialog:
    progress = QProgressDialog(parent)
    progress.setWindowTitle("Exporting video")
    progress.setLabelText("Rendering and encoding…")
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    progress.setMinimumDuration(0)
    # Reaching the last frame is not the end: the file is still being finished.
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    progress.setRange(0, 0)  # a moving bar until the export says how many frames it writes
    progress.setValue(0)
    progress.setMinimumWidth(420)
    return progress


def _show_success(parent: QWidget, result: ExportResult) -> None:
    box = QMessageBox(QMessageBox.Icon.Information, "Export finished", "", parent=parent)
    box.setText(f"Exported {result.path.name}")
    details = [
        f"{result.frames} frames, {result.width} × {result.height}, "
        f"{_fps_text(result.fps)} fps, in {clock(result.seconds)}.",
    ]
    if result.previews:
        details.append(f"{result.previews} frames are quick previews, not final renders.")
    details.append(f"Saved in {result.path.parent}")
    box.setInformativeText("\n".join(details))
    show = box.addButton("Show in folder", QMessageBox.ButtonRole.ActionRole)
    box.setDefaultButton(box.addButton("Close", QMessageBox.ButtonRole.RejectRole))
    _widen(box)
    box.exec()
    if box.clickedButton() is show:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(result.path.parent)))


def _show_failure(parent: QWidget, path: str, message: str) -> None:
    box = QMessageBox(
        QMessageBox.Icon.Critical, "Export failed", f"{os.path.basename(path)} was not written.",
        parent=parent,
    )
    box.setInformativeText(message)
    box.addButton("Close", QMessageBox.ButtonRole.RejectRole)
    _widen(box)
    box.exec()


def _widen(box: QMessageBox) -> None:
    """Give a message box room for a path or an ffmpeg message on few lines."""
    grid = box.layout()
    if isinstance(grid, QGridLayout):
        grid.addItem(
            QSpacerItem(440, 0, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Minimum),
            grid.rowCount(), 0, 1, grid.columnCount(),
        )
