"""The inspector: the render settings of the current frame, editable on a keyframe.

On a keyframe, or at frame 0 without one (where the project defaults apply), every setting can
be edited; on other frames the effective settings are shown read-only with where they come from.
The widget only reports what the user changed; the main window applies it as an undoable edit
and calls `show_frame` again.

Whether a backend can run depends on the frame's settings (a diffusion backend needs its model
on disk), so the backend lists are re-checked when the frame's model settings change. A check
looks at the disk: answers are kept per (backend, model) until `forget_checks`.
"""

from __future__ import annotations

import html
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QFont, QKeyEvent, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.project import Keyframe, Project, SettingSource
from sdhd_studio.core.settings import DEFAULTS, SETTINGS, SettingSpec
from sdhd_studio.core.timecode import frame_time
from sdhd_studio.ml import models, registry
from sdhd_studio.ml.upscale import community

log = logging.getLogger(__name__)

_BACKEND_KINDS: dict[str, registry.Kind] = {
    "upscaler": "upscale", "inpainter": "inpaint", "fast_upscaler": "upscale",
    "interpolator": "interpolate",
}
# The setting that names each backend's model.
_MODEL_SETTINGS = {
    "upscaler": "model", "inpainter": "inpaint_model", "fast_upscaler": "model",
    "interpolator": "interpolator_model",
}
# The backend whose catalogue models each model box offers: the fast upscaler shares `model`
# with the upscaler, whose box it is.
_OFFERED_BY = {"model": "upscaler", "inpaint_model": "inpainter",
               "interpolator_model": "interpolator"}
# A heading above the first setting of each group.
_GROUPS = {"mode": "Motion"}
MODELS_LINK = "models"  # the warning's link: show the Models window
_MULTILINE = frozenset({"prompt", "negative_prompt"})
# A ramped seed is just a different random seed on every frame; nobody wants that.
_NO_RAMP = frozenset({"seed"})
_FLOAT_DECIMALS = 2
# Flow scale goes down to 1/8; its natural steps are eighths.
_DECIMALS = {"flow_scale": 3}
_FLOAT_STEPS = {"strength": 0.05, "inpaint_strength": 0.05, "guidance": 0.5, "flow_scale": 0.125}
_INT32_MAX = 2**31 - 1
_NAME_ROLE = Qt.ItemDataRole.UserRole
_REASON_ROLE = Qt.ItemDataRole.UserRole + 1
_PATH_ROLE = Qt.ItemDataRole.UserRole + 2  # a model file's row: the file
# The backend list that also offers the model files found in the models folder (choosing one
# sets the backend and its model together).
_FILES_IN = "upscaler"


def _show(widget: QWidget, visible: bool) -> None:
    if widget.isHidden() == visible:  # setVisible costs a relayout even when nothing changes
        widget.setVisible(visible)


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _range_text(spec: SettingSpec) -> str:
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{spec.minimum:g}–{spec.maximum:g}{unit}"


class _WheelGuard(QObject):
    """Lets the wheel scroll the inspector instead of changing a value it passes over."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():  # type: ignore[attr-defined]
            event.ignore()  # unaccepted, the wheel goes on to the scroll area
            return True
        return False


class _PromptEdit(QPlainTextEdit):
    """Multi-line text that commits when it loses focus or on Ctrl+Enter, not per keystroke."""

    committed = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        # Its own context menu takes focus too; that is not the end of an edit.
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self.committed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.committed.emit()
        else:
            super().keyPressEvent(event)


class _Field:
    """One setting's editor: filled without signals, reports user changes to `commit`."""

    editor: QWidget  # gets the value's font, palette and tooltip
    widget: QWidget  # what goes into the form
    side: QWidget | None = None  # a button beside it, in the ramp column
    below: QWidget | None = None  # a note under it

    def __init__(self, spec: SettingSpec, commit: Callable[[str, Any], None]) -> None:
        self.spec = spec
        self._commit = commit
        self.shown: Any = None  # the value last filled in or committed

    def set_value(self, value: Any) -> None:
        if value == self.shown and self.pending() is None:
            return
        with QSignalBlocker(self.editor):
            self._put(value)
        self.shown = value

    def set_editable(self, editable: bool) -> None:
        raise NotImplementedError

    def pending(self) -> Any | None:
        """Text typed but not committed yet (text fields only), else None."""
        return None

    def _put(self, value: Any) -> None:
        raise NotImplementedError

    def _user_value(self, value: Any) -> None:
        if value != self.shown:
            self.shown = value
            self._commit(self.spec.name, value)


class _BackendDelegate(QStyledItemDelegate):
    """Lists a backend that cannot run here with the reason after its name."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Any) -> None:
        super().initStyleOption(option, index)
        reason = index.data(_REASON_ROLE)
        if reason:
            option.text = f"{option.text}  (unavailable: {reason})"  # type: ignore[attr-defined]

    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> QSize:
        size = super().sizeHint(option, index)
        # As roomy as the menu-style list the combo box would have without this delegate.
        size.setHeight(size.height() + 8)
        return size


class _BackendField(_Field):
    def __init__(
        self, spec: SettingSpec, commit: Callable[[str, Any], None],
        commit_many: Callable[[dict[str, Any]], None],
    ) -> None:
        super().__init__(spec, commit)
        self._commit_many = commit_many
        self.model = ""  # the frame's model setting: which file row shows the model backend
        self._files: tuple[tuple[community.Found, ...], list[str | None]] = ((), [])
        self.uses: dict[str, frozenset[str]] = {}
        self.specs = {b.name: b for b in registry.backends(_BACKEND_KINDS[spec.name])}
        self.checked_for: str | None = None  # the model setting the reasons were found for
        self._model = QStandardItemModel()
        for backend in self.specs.values():
            self.uses[backend.name] = backend.uses
            self._add(backend.name)
        self.combo = self.editor = self.widget = QComboBox()
        self.combo.setModel(self._model)
        # The closed box shows the bare name; the list shows why a backend cannot run.
        self.combo.setItemDelegate(_BackendDelegate(self.combo))
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(8)
        self.combo.view().setTextElideMode(Qt.TextElideMode.ElideNone)
        self.combo.activated.connect(self._activated)
        self.with_models: frozenset[str] = frozenset()  # backends the catalogue has models for
        self.below = self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setTextFormat(Qt.TextFormat.RichText)  # for the link to the Models window
        self.warning.setVisible(False)

    def _add(self, name: str, label: str = "") -> None:
        item = QStandardItem(label or name)
        item.setData(name, _NAME_ROLE)
        upright = QFont()
        upright.setItalic(False)  # an inherited value's italics are for the box, not the list
        item.setFont(upright)
        self._model.appendRow(item)
        if not label:
            self._set_reason(item, None if name in self.specs else "not installed here")

    def offer_files(self, files: tuple[community.Found, ...], reasons: list[str | None]) -> None:
        """Rows for the model files found in the models folder, after the backends, each
        named by its family and scale; `reasons` says why each cannot run (None: it can)."""
        if (files, reasons) == self._files:
            return
        self._files = (files, reasons)
        for row in reversed(range(self._model.rowCount())):
            if self._model.item(row).data(_PATH_ROLE):
                self._model.removeRow(row)
        for found, reason in zip(files, reasons, strict=True):
            self._add(community.NAME, found.label)
            item = self._model.item(self._model.rowCount() - 1)
            item.setData(str(found.path), _PATH_ROLE)
            self._set_reason(item, found.problem or reason)
        if self.shown is not None:
            with QSignalBlocker(self.combo):
                self._put(self.shown)

    def show_model(self, model: str) -> None:
        """The frame's model setting: the model backend shows as the file row it names."""
        if model != self.model:
            self.model = model
            if self.shown is not None:
                with QSignalBlocker(self.combo):
                    self._put(self.shown)

    def _activated(self, row: int) -> None:
        name, path = self.combo.itemData(row, _NAME_ROLE), self.combo.itemData(row, _PATH_ROLE)
        if not path:
            self._user_value(name)
        elif (name, path) != (self.shown, self.model):  # the refill that follows shows it
            self._commit_many({self.spec.name: name, _MODEL_SETTINGS[self.spec.name]: path})

    def _set_reason(self, item: QStandardItem, reason: str | None) -> None:
        item.setData(reason, _REASON_ROLE)
        spec = self.specs.get(item.data(_NAME_ROLE))
        tips = [item.data(_PATH_ROLE) or (spec.description if spec else "") or item.text()]
        item.setToolTip("\n".join(tips + ([f"Unavailable: {reason}"] if reason else [])))
        usable = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        item.setFlags(item.flags() & ~usable if reason else item.flags() | usable)

    def set_reasons(self, reasons: Mapping[str, str | None]) -> None:
        """Why each backend cannot run with the frame's settings (None: it can)."""
        for row in range(self._model.rowCount()):
            item = self._model.item(row)
            name = item.data(_NAME_ROLE)
            if item.data(_PATH_ROLE):  # a model file's row has its own reason
                continue
            if name in reasons and item.data(_REASON_ROLE) != reasons[name]:
                self._set_reason(item, reasons[name])
        self._show_warning()

    def _put(self, value: Any) -> None:
        rows = range(self._model.rowCount())
        row = next((r for r in rows if self.model and self.combo.itemData(r, _PATH_ROLE)
                    == self.model and self.combo.itemData(r, _NAME_ROLE) == value),
                   self.combo.findData(value, _NAME_ROLE))
        if row < 0:  # a project made where more backends are installed
            self._add(value)
            row = self._model.rowCount() - 1
        self.combo.setCurrentIndex(row)
        self.combo.view().setMinimumWidth(self.combo.view().sizeHintForColumn(0) + 24)
        self._show_warning()

    def _show_warning(self) -> None:
        row = self.combo.currentIndex()
        reason = self.combo.itemData(row, _REASON_ROLE) if row >= 0 else None
        name = self.combo.itemData(row, _NAME_ROLE)
        text = html.escape(f"⚠ {name} cannot run here: {reason}") if reason else ""
        if reason and name in self.with_models:
            text += f' <a href="{MODELS_LINK}">Models…</a>'
        if self.warning.text() != text:
            self.warning.setText(text)
        _show(self.warning, bool(reason))

    def set_editable(self, editable: bool) -> None:
        self.combo.setEnabled(editable)


class _ModelField(_Field):
    """A model setting: a model the chosen backend knows by name, picked from the list, or a
    folder or hub id typed in."""

    def __init__(self, spec: SettingSpec, commit: Callable[[str, Any], None]) -> None:
        super().__init__(spec, commit)
        self.combo = self.editor = self.widget = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Enter commits, no more
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(8)
        self.line = self.combo.lineEdit()
        self.line.setPlaceholderText("backend default")
        self.line.setClearButtonEnabled(True)
        self.line.editingFinished.connect(lambda: self._user_value(self.line.text()))
        self.combo.activated.connect(lambda row: self._user_value(self.combo.itemText(row)))
        self._offered: tuple[str, ...] | None = None

    def offer(self, ids: tuple[str, ...], descriptions: tuple[str, ...]) -> None:
        """List the catalogue's models for the chosen backend; the text typed stays."""
        if ids == self._offered:
            return
        self._offered = ids
        text, cursor = self.line.text(), self.line.cursorPosition()
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for row, (model_id, description) in enumerate(zip(ids, descriptions, strict=True)):
                self.combo.addItem(model_id)
                self.combo.setItemData(row, description, Qt.ItemDataRole.ToolTipRole)
            self.combo.setCurrentIndex(-1)
            self.combo.setEditText(text)
        self.line.setCursorPosition(cursor)
        self.combo.view().setMinimumWidth(self.combo.view().sizeHintForColumn(0) + 24)

    def _put(self, value: Any) -> None:
        self.combo.setEditText(value)
        self.line.setCursorPosition(0)  # a long model id shows its start

    def pending(self) -> Any | None:
        return self.line.text() if self.line.text() != self.shown else None

    def set_editable(self, editable: bool) -> None:
        self.combo.setEnabled(editable)


class _ChoiceField(_Field):
    """A text setting with a fixed set of values."""

    def __init__(self, spec: SettingSpec, commit: Callable[[str, Any], None]) -> None:
        super().__init__(spec, commit)
        self.combo = self.editor = self.widget = QComboBox()
        self.combo.addItems(spec.choices)
        self.combo.activated.connect(lambda row: self._user_value(self.combo.itemText(row)))

    def _put(self, value: Any) -> None:
        self.combo.setCurrentIndex(self.combo.findText(value))

    def set_editable(self, editable: bool) -> None:
        self.combo.setEnabled(editable)


class _LineField(_Field):
    def __init__(self, spec: SettingSpec, commit: Callable[[str, Any], None]) -> None:
        super().__init__(spec, commit)
        self.line = self.editor = self.widget = QLineEdit()
        self.line.setPlaceholderText("none")
        self.line.setClearButtonEnabled(True)
        self.line.editingFinished.connect(lambda: self._user_value(self.line.text()))

    def _put(self, value: Any) -> None:
        self.line.setText(value)
        self.line.setCursorPosition(0)  # a long model id shows its start

    def pending(self) -> Any | None:
        return self.line.text() if self.line.text() != self.shown else None

    def set_editable(self, editable: bool) -> None:
        self.line.setReadOnly(not editable)
        self.line.setClearButtonEnabled(editable)


class _PromptField(_Field):
    def __init__(self, spec: SettingSpec, commit: Callable[[str, Any], None]) -> None:
        super().__init__(spec, commit)
        self.text = self.editor = self.widget = _PromptEdit()
        self.text.setTabChangesFocus(True)
        self.text.setPlaceholderText("none")
        lines = self.text.fontMetrics().lineSpacing() * 3
        self.text.setFixedHeight(lines + 2 * self.text.frameWidth() + 8)
        self.text.committed.connect(lambda: self._user_value(self.text.toPlainText()))

    def _put(self, value: Any) -> None:
        self.text.setPlainText(value)

    def pending(self) -> Any | None:
        text = self.text.toPlainText()
        return text if text != self.shown else None

    def set_editable(self, editable: bool) -> None:
        self.text.setReadOnly(not editable)


class _NumberField(_Field):
    def __init__(
        self, spec: SettingSpec, commit: Callable[[str, Any], None], guard: QObject
    ) -> None:
        super().__init__(spec, commit)
        assert spec.minimum is not None and spec.maximum is not None
        spin: QSpinBox | QDoubleSpinBox
        if spec.kind is int and spec.maximum <= _INT32_MAX:
            spin = QSpinBox()
            spin.setRange(int(spec.minimum), int(spec.maximum))
        else:
            # QSpinBox is 32-bit signed; a double holds every integer up to 2**53 exactly.
            spin = QDoubleSpinBox()
            spin.setDecimals(_DECIMALS.get(spec.name, _FLOAT_DECIMALS) if spec.kind is float
                             else 0)
            spin.setRange(spec.minimum, spec.maximum)
            if spec.kind is float:
                spin.setSingleStep(_FLOAT_STEPS.get(spec.name, 0.1))
        if spec.unit:
            spin.setSuffix(f" {spec.unit}")
        spin.setKeyboardTracking(False)  # valueChanged on Enter / focus-out, not per keystroke
        spin.setAccelerated(True)
        spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        spin.installEventFilter(guard)
        spin.valueChanged.connect(lambda value: self._user_value(self._typed(value)))
        self.spin = self.editor = self.widget = spin
        self.dice: QToolButton | None = None
        if spec.name == "seed":
            self.dice = self.side = QToolButton()
            self.dice.setText("Random")
            self.dice.setToolTip("Pick a random seed")
            self.dice.clicked.connect(self._random)

    def _typed(self, value: float) -> Any:
        return round(value) if self.spec.kind is int else float(value)

    def _random(self) -> None:
        assert self.spec.maximum is not None
        value = random.randint(int(self.spec.minimum or 0), int(self.spec.maximum))
        with QSignalBlocker(self.spin):
            self.spin.setValue(value)
        self._user_value(value)

    def _put(self, value: Any) -> None:
        self.spin.setValue(value)

    def set_editable(self, editable: bool) -> None:
        self.spin.setReadOnly(not editable)
        self.spin.setButtonSymbols(
            QAbstractSpinBox.ButtonSymbols.UpDownArrows
            if editable
            else QAbstractSpinBox.ButtonSymbols.NoButtons
        )
        if self.dice is not None:
            self.dice.setEnabled(editable)


class _Row:
    """A setting's label, editor and ramp control, restyled only when its look changes."""

    def __init__(self, field: _Field, ramp: QCheckBox | None) -> None:
        self.field = field
        self.label = QLabel(_title(field.spec.name))
        self.label.setBuddy(field.editor)
        self.ramp = ramp
        self.marker = QLabel("ramping")
        self.marker.setVisible(False)
        self._italic: bool | None = None
        self._dimmed: bool | None = None
        self._tooltip: str | None = None

    def restyle_dim_later(self) -> None:
        self._dimmed = None

    def restyle(self, italic: bool, dim: QPalette | None, tooltip: str) -> None:
        # Setting a font or palette re-polishes the widget: only when it changes (scrubbing).
        if italic != self._italic:
            self._italic = italic
            font = self.field.editor.font()
            font.setItalic(italic)
            self.field.editor.setFont(font)
        if (dim is not None) != self._dimmed:
            self._dimmed = dim is not None
            for widget in (self.label, self.field.editor):
                widget.setPalette(dim if dim is not None else QPalette())
        if tooltip != self._tooltip:
            self._tooltip = tooltip
            self.label.setToolTip(tooltip)
            self.field.editor.setToolTip(tooltip)


@dataclass(frozen=True)
class _Motion:
    """What decides whether the motion backends are used at all."""

    in_betweens: bool  # the project's output frame rate needs interpolated frames
    tracked: bool  # some mask is carried by optical flow


def _has_in_betweens(project: Project) -> bool:
    """Whether some output frame falls between two source frames (core.timing): exactly when
    the source frame rate is not a whole multiple of the output's."""
    info = project.source.info
    return project.frame_count > 1 and (info.fps / project.output.fps(info)).denominator != 1


def _idle_backends(values: Mapping[str, Any], motion: _Motion) -> dict[str, str]:
    """Backend settings that make no frame of the project, with why."""
    idle = {}
    if values["mode"] != "guided":
        idle["fast_upscaler"] = ("Used in guided mode only: changing it re-renders nothing "
                                 "while mode is per-frame.")
    if not motion.in_betweens:
        idle["interpolator"] = ("The project's output frame rate needs no in-between frames: "
                                "only an export at another frame rate uses the interpolator.")
    return idle


def _heading(text: str) -> QWidget:
    """A group's title over a rule, between the rows of the form."""
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 10, 0, 2)
    column.setSpacing(2)
    rule = QFrame()
    rule.setFrameShape(QFrame.Shape.HLine)
    rule.setFrameShadow(QFrame.Shadow.Sunken)
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    column.addWidget(rule)
    column.addWidget(label)
    return box


class InspectorWidget(QWidget):
    """Settings of the frame under the playhead; see the module docstring."""

    # keyframe frame (0 = the project defaults when frame 0 is no keyframe), {name: value}
    settingsEdited = Signal(int, dict)
    interpolationToggled = Signal(int, str, bool)  # keyframe frame, setting name, ramp on
    addKeyframeRequested = Signal(int)
    removeKeyframeRequested = Signal(int)
    modelsRequested = Signal()  # a backend's warning links to the Models window

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._index = 0
        self._target: int | None = None  # the frame edits go to; None: read-only
        self._state: tuple[Any, ...] | None = None
        self._guard = _WheelGuard(self)
        self._dim = QPalette()
        self._checks: dict[tuple[str, str, str], str | None] = {}  # (kind, backend, model)
        self._catalogue: list[models.ModelInfo] | None = None
        self._found: tuple[community.Found, ...] | None = None  # files in the models folder

        self._frame_label = QLabel("No video open")
        font = self._frame_label.font()
        font.setBold(True)
        self._frame_label.setFont(font)
        self._status_label = QLabel()
        self._status_label.setWordWrap(True)
        self._add_button = QPushButton("Make this frame a keyframe (K)")
        self._add_button.setToolTip("Add a keyframe here: its settings then apply from this frame")
        self._add_button.clicked.connect(lambda: self.addKeyframeRequested.emit(self._index))
        self._remove_button = QPushButton("Remove keyframe")
        self._remove_button.setToolTip("Remove this keyframe: the settings before it apply again")
        self._remove_button.clicked.connect(lambda: self.removeKeyframeRequested.emit(self._index))
        for button in (self._add_button, self._remove_button):
            button.setVisible(False)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        form = QWidget()
        grid = QGridLayout(form)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setColumnStretch(1, 1)
        self._rows: dict[str, _Row] = {}
        line = 0
        for name, spec in SETTINGS.items():
            if name in _GROUPS:
                grid.addWidget(_heading(_GROUPS[name]), line, 0, 1, 3)
                line += 1
            row = self._rows[name] = self._make_row(spec)
            if name in _MULTILINE:
                # Prompts get the full width; a label beside them would leave a narrow box.
                grid.addWidget(row.label, line, 0, 1, 3)
                grid.addWidget(row.field.widget, line + 1, 0, 1, 3)
                line += 2
                continue
            if spec.numeric:
                grid.addWidget(row.field.widget, line, 1)
                for extra in (row.ramp, row.marker, row.field.side):
                    if extra is not None:
                        grid.addWidget(extra, line, 2)
            else:
                grid.addWidget(row.field.widget, line, 1, 1, 2)
            grid.addWidget(row.label, line, 0)
            line += 1
            if row.field.below is not None:
                grid.addWidget(row.field.below, line, 1, 1, 2)
                line += 1
        grid.setRowStretch(line, 1)
        # The ramp column keeps its width where no ramp box shows, so editors do not jump.
        grid.setColumnMinimumWidth(
            2, max(r.ramp.sizeHint().width() for r in self._rows.values() if r.ramp is not None)
        )
        self._backends = {
            name: row.field
            for name, row in self._rows.items()
            if isinstance(row.field, _BackendField)
        }
        for field in self._backends.values():
            field.warning.linkActivated.connect(lambda _link: self.modelsRequested.emit())
        self._check_backends(DEFAULTS)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form)
        # Never narrower than the form: a dock dragged too small would cut editors off.
        scroll.setMinimumWidth(
            form.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )

        layout = QVBoxLayout(self)
        layout.addWidget(self._frame_label)
        layout.addWidget(self._status_label)
        layout.addWidget(self._add_button)
        layout.addWidget(self._remove_button)
        layout.addWidget(scroll, 1)
        self._fill_empty()

    def _make_row(self, spec: SettingSpec) -> _Row:
        field: _Field
        if spec.name in _BACKEND_KINDS:
            field = _BackendField(spec, self._commit, self._commit_many)
        elif spec.name in _MODEL_SETTINGS.values():
            field = _ModelField(spec, self._commit)
        elif spec.numeric:
            field = _NumberField(spec, self._commit, self._guard)
        elif spec.choices:
            field = _ChoiceField(spec, self._commit)
        elif spec.name in _MULTILINE:
            field = _PromptField(spec, self._commit)
        else:
            field = _LineField(spec, self._commit)
        if isinstance(field.editor, QComboBox):
            field.editor.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.editor.installEventFilter(self._guard)
        ramp = None
        if spec.numeric and spec.name not in _NO_RAMP:
            ramp = QCheckBox("ramp")
            ramp.clicked.connect(lambda on, name=spec.name: self._toggle_ramp(name, on))
        return _Row(field, ramp)

    def show_frame(self, project: Project, index: int) -> None:
        """Show the settings at frame `index`; cheap when nothing but the frame number changed."""
        index = min(max(index, 0), max(project.frame_count - 1, 0))
        self._index = index
        title = f"Frame {index} · {frame_time(index, project.source.info.fps)}"
        if self._frame_label.text() != title:
            self._frame_label.setText(title)
        values, origins = project.resolve(index)
        keyframe = project.keyframe_at(index)
        if keyframe is not None:
            target: int | None = index
        else:
            target = 0 if index == 0 else None
        before = project.keyframe_before(index)
        motion = _Motion(
            in_betweens=_has_in_betweens(project),
            tracked=any(mask.track for mask in project.masks),
        )
        state = (
            target,
            keyframe.frame if keyframe else None,
            before.frame if before else None,
            keyframe.interpolate if keyframe else None,
            values,
            origins,
            motion,
        )
        if state == self._state:
            return
        self._state = state
        same_target = target == self._target
        if not same_target:
            self._flush_pending(project)
        self._target = target
        self._fill(keyframe, before, values, origins, motion, keep_typing=same_target)

    def forget_checks(self) -> None:
        """Models may have come or gone (a download): check the backends again, and list the
        catalogue again, at the next `show_frame`."""
        self._checks.clear()
        self._catalogue = None
        self._found = None
        for field in self._backends.values():
            field.checked_for = None
        self._state = None

    def _check_backends(self, values: Mapping[str, Any]) -> None:
        """Mark the backends that cannot run with `values`, and offer the chosen backends'
        models; only when a backend or model setting changed since the last time."""
        for name, field in self._backends.items():
            model = values[_MODEL_SETTINGS[name]]
            if field.checked_for != model:
                field.checked_for = model
                field.with_models = frozenset(b for m in self._models() for b in m.backends)
                field.set_reasons(
                    {backend: self._reason(spec, model, values)
                     for backend, spec in field.specs.items()}
                )
        files = self._backends[_FILES_IN]
        if self._found is None:
            self._found = tuple(community.found_models())
        spec = files.specs.get(community.NAME)
        files.offer_files(self._found, [
            self._reason(spec, str(f.path), {**values, "model": str(f.path)}) if spec else
            "not installed here" for f in self._found
        ])
        files.show_model(values[_MODEL_SETTINGS[_FILES_IN]])
        for model_name, name in _OFFERED_BY.items():
            model_field = self._rows[model_name].field
            assert isinstance(model_field, _ModelField)
            known = [m for m in self._models() if values[name] in m.backends]
            model_field.offer(tuple(m.id for m in known), tuple(m.description for m in known))

    def _reason(
        self, spec: registry.BackendSpec, model: str, values: Mapping[str, Any]
    ) -> str | None:
        key = (spec.kind, spec.name, model)
        if key not in self._checks:
            try:
                self._checks[key] = spec.unusable_reason(values)
            except Exception as exc:  # noqa: BLE001 - a broken check must not break the form
                log.exception("checking %s failed", spec.name)
                self._checks[key] = f"its check failed: {exc}"
        return self._checks[key]

    def _models(self) -> list[models.ModelInfo]:
        if self._catalogue is None:
            self._catalogue = models.catalogue()
        return self._catalogue

    def _flush_pending(self, project: Project) -> None:
        """Text typed for the frame shown before (not committed yet) still goes to that frame."""
        old = self._target
        if old is None or (old != 0 and project.keyframe_at(old) is None):
            return
        pending = [
            (name, value)
            for name, row in self._rows.items()
            if (value := row.field.pending()) is not None
        ]
        # After this call, not during it: the main window re-enters show_frame on an edit.
        for name, value in pending:
            QTimer.singleShot(
                0, self, lambda n=name, v=value: self.settingsEdited.emit(old, {n: v})
            )

    def _fill(
        self,
        keyframe: Keyframe | None,
        before: Keyframe | None,
        values: dict[str, Any],
        origins: dict[str, SettingSource],
        motion: _Motion,
        keep_typing: bool,
    ) -> None:
        index, editable = self._index, self._target is not None
        if keyframe is not None:
            status = "Keyframe"
        elif editable:
            status = "Project defaults (before the first keyframe)"
        elif before is not None:
            status = f"Settings from keyframe {before.frame}"
        else:
            status = "Settings from project defaults"
        self._status_label.setText(status)
        # Frame 0 may become a keyframe too: ramps start at a keyframe, never at the defaults.
        _show(self._add_button, keyframe is None)
        _show(self._remove_button, keyframe is not None)

        self._update_dim_palette()
        self._check_backends(values)
        idle = _idle_backends(values, motion)
        # What the engine itself reads, whichever backends run.
        used, users = {"mode"}, []
        if values["mode"] == "guided" or motion.tracked:
            used.add("flow_scale")
        for name, field in self._backends.items():
            if name not in idle:
                backend = values[name]
                used |= field.uses.get(backend, frozenset())
                users.append(backend)

        for name, row in self._rows.items():
            field, origin, spec = row.field, origins[name], row.field.spec
            set_here = (keyframe is None and editable) or origin.keyframe == index
            # Keep what the user is typing when the same frame is refilled (another edit).
            if not (keep_typing and field.pending() is not None and field.editor.hasFocus()):
                field.set_value(values[name])
            if editable != self._editable:
                field.set_editable(editable)
            tips = [spec.help[:1].upper() + spec.help[1:] + "."]
            if spec.numeric:
                tips.append(f"Range {_range_text(spec)}.")
            if not set_here:
                source = f"keyframe {origin.keyframe}" if origin.keyframe is not None else None
                tips.append(f"Inherited from {source or 'project defaults'}.")
            if origin.ramp_to is not None:
                tips.append(f"Ramping to its value at keyframe {origin.ramp_to}.")
            unused = name in idle or (name not in used and name not in _BACKEND_KINDS)
            if name in idle:
                tips.append(idle[name])
            elif unused:
                tips.append(f"Not used by {' or '.join(users)}: changing it re-renders nothing.")
            row.restyle(
                keyframe is not None and not set_here,
                self._dim if unused else None,
                "\n".join(tips),
            )
            self._fill_ramp(row, keyframe, set_here, origin)
        self._editable = editable

    def _update_dim_palette(self) -> None:
        """Text of unused settings in the current theme's disabled colour (themes can change)."""
        grey = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
        roles = (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.PlaceholderText,
        )
        if self._dim.color(QPalette.ColorGroup.Active, roles[0]) == grey:
            return
        # Only these roles are set, so a dimmed widget inherits every other colour.
        self._dim = QPalette()
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
            for role in roles:
                self._dim.setColor(group, role, grey)
        for row in self._rows.values():
            row.restyle_dim_later()

    def _fill_ramp(
        self, row: _Row, keyframe: Keyframe | None, set_here: bool, origin: SettingSource
    ) -> None:
        name = row.field.spec.name
        on_keyframe = keyframe is not None and row.ramp is not None
        _show(row.marker, not on_keyframe and origin.ramp_to is not None)
        if origin.ramp_to is not None:
            row.marker.setToolTip(
                f"Ramping from keyframe {origin.keyframe} to keyframe {origin.ramp_to}"
            )
        if row.ramp is None:
            return
        _show(row.ramp, on_keyframe)
        if keyframe is None:
            return
        with QSignalBlocker(row.ramp):
            row.ramp.setChecked(name in keyframe.interpolate)
        row.ramp.setEnabled(set_here)
        if not set_here:
            tip = f"Set {_title(name).lower()} on this keyframe to ramp it"
        elif origin.next_set is None:
            tip = f"No later keyframe sets {_title(name).lower()}: nothing to ramp to"
        else:
            tip = f"Ramp linearly to the value keyframe {origin.next_set} sets"
        row.ramp.setToolTip(tip)

    def _fill_empty(self) -> None:
        self._editable = False
        for row in self._rows.values():
            row.field.set_editable(False)
            if row.ramp is not None:
                row.ramp.setVisible(False)

    def _commit(self, name: str, value: Any) -> None:
        self._commit_many({name: value})

    def _commit_many(self, values: dict[str, Any]) -> None:
        if self._target is None:
            return
        # The main window answers with show_frame; refill then even if the edit was refused.
        self._state = None
        self.settingsEdited.emit(self._target, values)

    def _toggle_ramp(self, name: str, on: bool) -> None:
        if self._target is None:
            return
        self._state = None
        self.interpolationToggled.emit(self._target, name, on)
