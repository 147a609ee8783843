"""The mask tools: brush, eraser, size, hardness, clear, invert, how long a mask applies, and
whether it is held as painted or tracked: carried along with what it covers by optical flow.

Tracking runs in the engine (the main window starts it on `trackRequested`); it may stop
before the frames asked for, where it lost track, and `show_track_warnings` says so here.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.project import Project

SPANS = (("frame", "This frame only"), ("hold", "Hold for N frames"), ("until", "Until frame"))


class MaskPanel(QWidget):
    toolChanged = Signal(object, float, float)  # "brush", "eraser" or None; size px; hardness 0-1
    clearRequested = Signal()
    invertRequested = Signal()
    removeRequested = Signal(int)  # the frame whose painted mask to remove
    spanChanged = Signal()  # the hold setting changed: the (held) mask on this frame follows it
    # Carry the mask painted on this frame by optical flow over track_start()..span_end();
    # True: even if it is tracked over those frames already (the user asked again).
    trackRequested = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._frame = 0
        self._painted_here = False

        self._brush = _tool_button("Brush", "Paint the area to fill (B)", "maskBrush")
        self._eraser = _tool_button("Eraser", "Unpaint (E)", "maskEraser")
        tools = QButtonGroup(self)
        tools.setExclusive(False)  # clicking the active tool again puts it down
        for button in (self._brush, self._eraser):
            tools.addButton(button)
        self._brush.toggled.connect(lambda on: self._pick(self._brush, on))
        self._eraser.toggled.connect(lambda on: self._pick(self._eraser, on))

        self._size = QSpinBox(suffix=" px", minimum=1, maximum=400, value=24)
        self._size.setToolTip("Brush diameter in source pixels ([ and ] change it)")
        self._hardness = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=80)
        self._hardness.setToolTip("100: a hard edge; lower: a soft, feathered edge")
        self._size.valueChanged.connect(self._emit_tool)
        self._hardness.valueChanged.connect(self._emit_tool)

        clear = QPushButton("Clear")
        clear.setToolTip("Remove everything painted on this frame's mask")
        clear.clicked.connect(self.clearRequested)
        invert = QPushButton("Invert")
        invert.setToolTip("Masked becomes unmasked and the other way round")
        invert.clicked.connect(self.invertRequested)
        self._remove = QPushButton("Remove mask")
        self._remove.setToolTip("Delete the mask painted on this frame")
        self._remove.clicked.connect(lambda: self.removeRequested.emit(self._frame))

        self._span = QComboBox(objectName="maskSpan")
        for key, label in SPANS:
            self._span.addItem(label, key)
        self._count = QSpinBox(
            minimum=1, maximum=10**7, value=25, suffix=" frames", objectName="maskHoldFrames"
        )
        self._until = QSpinBox(minimum=0, maximum=10**7, objectName="maskUntilFrame")
        self._span.currentIndexChanged.connect(self._span_edited)
        self._count.editingFinished.connect(self._span_changed)
        self._until.editingFinished.connect(self._span_changed)
        self._track = QCheckBox("Track motion", objectName="maskTrack")
        self._track.setToolTip(
            "Carry the mask along with what it covers, frame by frame, by optical flow. "
            "Tracking stops (and says where) when it loses what the mask covers."
        )
        self._track.clicked.connect(self._track_clicked)
        self._from = QSpinBox(minimum=0, maximum=0, objectName="maskTrackFrom")
        self._from.setToolTip("Track back to this frame too (before the painted one)")
        self._from.editingFinished.connect(self._span_changed)
        self._track_now = QPushButton("Track now", objectName="maskTrackNow")
        self._track_now.setToolTip("Carry the mask painted on this frame over the frames above")
        self._track_now.clicked.connect(lambda: self.trackRequested.emit(True))
        self._warning = QLabel(wordWrap=True, objectName="maskTrackWarning")
        self._warning.setVisible(False)
        self._info = QLabel(wordWrap=True, objectName="maskInfo")
        self._info.setStyleSheet("color: palette(placeholder-text);")

        row = QHBoxLayout()
        row.addWidget(self._brush)
        row.addWidget(self._eraser)
        buttons = QHBoxLayout()
        for button in (clear, invert, self._remove):
            buttons.addWidget(button)
        form = QFormLayout()
        form.addRow("Size", self._size)
        form.addRow("Hardness", self._hardness)
        form.addRow("Applies to", self._span)
        form.addRow("", self._count)
        form.addRow("", self._until)
        track_row = QHBoxLayout()
        track_row.addWidget(self._track)
        track_row.addStretch(1)
        track_row.addWidget(self._track_now)
        form.addRow("", track_row)
        self._from_label = QLabel("From frame")
        form.addRow(self._from_label, self._from)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self._warning)
        layout.addWidget(self._info)
        layout.addStretch(1)
        self._update_span_fields()
        self._update_track_fields()

    def tool(self) -> str | None:
        if self._brush.isChecked():
            return "brush"
        return "eraser" if self._eraser.isChecked() else None

    def set_tool(self, tool: str | None) -> None:
        self._brush.setChecked(tool == "brush")
        self._eraser.setChecked(tool == "eraser")

    def change_size(self, factor: float) -> None:
        self._size.setValue(round(self._size.value() * factor) or 1)

    def span_end(self, frame: int, frame_count: int) -> int:
        """The last frame a mask painted on `frame` applies to, per the span setting."""
        mode = self._span.currentData()
        if mode == "hold":
            end = frame + self._count.value() - 1
        elif mode == "until":
            end = max(frame, self._until.value())
        else:
            end = frame
        return min(end, frame_count - 1)

    def tracking(self) -> bool:
        """Masks painted now are tracked (carried by flow), not held as painted."""
        return self._track.isChecked()

    def track_start(self, frame: int) -> int:
        """The first frame a tracked mask painted on `frame` covers."""
        return min(self._from.value(), frame) if self.tracking() else frame

    def show_track_warnings(self, warnings: list[str]) -> None:
        """Where tracking stopped early, until another frame is shown."""
        self._warning.setText("\n".join(f"⚠ {w[:1].upper()}{w[1:]}." for w in warnings))
        self._warning.setVisible(bool(warnings))

    def show_frame(self, project: Project, index: int) -> None:
        if index != self._frame:
            self.show_track_warnings([])
        self._frame = index
        self._until.setMaximum(project.frame_count - 1)
        mask = project.mask_at(index)
        painted = project.mask_painted_on(index)
        self._painted_here = painted is not None
        self._remove.setEnabled(painted is not None)
        with QSignalBlocker(self._from):
            self._from.setMaximum(index)
            if painted is not None:
                self._track.setChecked(painted.track)
                self._from.setValue(painted.first)
            else:
                self._from.setValue(index)
        if painted is not None:
            self._show_span(painted.frame, painted.end)
            how = "tracked over" if painted.track else "applied to"
            self._info.setText(
                f"Mask painted on this frame, {how} frames {painted.first}–{painted.end}."
            )
        elif mask is not None:
            how = "is carried here by tracking" if mask.track else "holds here"
            self._info.setText(
                f"Mask painted on frame {mask.frame} {how} (frames {mask.first}–{mask.end})."
                " Painting starts a new mask on this frame."
            )
        else:
            self._info.setText("No mask on this frame. Pick the brush and paint what to fill in.")
        self._update_track_fields()

    def _show_span(self, start: int, end: int) -> None:
        """Reflect a painted mask's span without reporting it as an edit."""
        with QSignalBlocker(self._span), QSignalBlocker(self._count), \
                QSignalBlocker(self._until):
            if end == start:
                self._span.setCurrentIndex(0)
            else:
                self._span.setCurrentIndex(1)
                self._count.setValue(end - start + 1)
                self._until.setValue(end)
        self._update_span_fields()

    def _span_edited(self) -> None:
        self._update_span_fields()
        self._span_changed()

    def _span_changed(self) -> None:
        """The frames the mask painted here covers may have changed: a tracked one is tracked
        again (the main window skips that when they did not)."""
        if not self._painted_here:
            return
        if self.tracking():
            self.trackRequested.emit(False)
        else:
            self.spanChanged.emit()

    def _track_clicked(self, on: bool) -> None:
        self._update_track_fields()
        if self._painted_here and on:
            self.trackRequested.emit(False)
        elif self._painted_here:
            self.spanChanged.emit()

    def _update_track_fields(self) -> None:
        on = self.tracking()
        self._from.setVisible(on)
        self._from_label.setVisible(on)
        self._track_now.setVisible(on)
        self._track_now.setEnabled(self._painted_here)

    def _update_span_fields(self) -> None:
        mode = self._span.currentData()
        self._count.setVisible(mode == "hold")
        self._until.setVisible(mode == "until")

    def _pick(self, button: QToolButton, on: bool) -> None:
        if on:
            other = self._eraser if button is self._brush else self._brush
            other.setChecked(False)
        self._emit_tool()

    def _emit_tool(self) -> None:
        self.toolChanged.emit(self.tool(), float(self._size.value()), self._hardness.value() / 100)


def _tool_button(text: str, tip: str, name: str) -> QToolButton:
    button = QToolButton(text=text, checkable=True, objectName=name)
    button.setToolTip(tip)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setMinimumWidth(80)
    return button
