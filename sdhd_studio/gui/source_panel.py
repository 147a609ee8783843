"""The Source panel: what the analysis found in the source (scan type, field order, cadence,
colour), beside the choices that decide how the project's frames are made from it, and which
of its audio tracks the output carries.

Applying a change is the main window's job (`applyRequested`): it re-conditions the source on a
worker (inverse telecine reads the whole file once) and makes it one undoable edit, after which
keyframes, masks and cuts sit at the same times. Choosing an audio track (`audioTrackChosen`)
is an undoable edit of the output settings, made at once: it touches no frame.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.project import Project

# (choice name, label, options with their wording): every option of core.source's choices
CHOICES = (
    ("field_order", "Field order", {
        "auto": "As found", "tff": "Top field first", "bff": "Bottom field first",
        "progressive": "Progressive (no fields)"}),
    ("deinterlace", "Deinterlace", {
        "auto": "As found (one frame per field)", "double": "One frame per field",
        "mc": "One frame per field, along the motion", "single": "One frame per picture",
        "off": "Off (fields woven)"}),
    ("ivtc", "Inverse telecine", {
        "auto": "When film is found", "on": "On", "off": "Off"}),
    ("colour_matrix", "Colour matrix", {
        "auto": "As tagged, else by size", "bt601": "BT.601 (SD)", "bt709": "BT.709 (HD)"}),
)  # fmt: skip

_MODES = {
    "progressive": "as they are",
    "double": "one per field",
    "single": "one per picture, deinterlaced",
    "ivtc": "film frames (inverse telecine)",
}


class SourcePanel(QWidget):
    applyRequested = Signal(dict)  # choice name -> value, all four
    audioTrackChosen = Signal(int)  # 1-based, a track the source has

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current: dict[str, str] = {}
        found = QFormLayout()
        self._found: dict[str, QLabel] = {}
        for key, label in (("scan", "Scan"), ("order", "Fields"), ("comb", "Combing"),
                           ("colour", "Colour"), ("frames", "Frames")):
            self._found[key] = value = QLabel("–", objectName=f"sourceFound_{key}")
            value.setWordWrap(True)
            found.addRow(label, value)
        chosen = QFormLayout()
        self._boxes: dict[str, QComboBox] = {}
        for name, label, options in CHOICES:
            box = QComboBox(objectName=f"sourceChoice_{name}")
            for value, text in options.items():
                box.addItem(text, value)
            box.currentIndexChanged.connect(self._update_apply)
            self._boxes[name] = box
            chosen.addRow(label, box)
        self._apply = QPushButton("Apply", objectName="sourceApply")
        self._apply.setToolTip("Make the project's frames this way; keyframes, masks and cuts "
                               "keep their times (undoable)")
        self._apply.clicked.connect(lambda: self.applyRequested.emit(self.choices()))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Found in the source</b>"))
        layout.addLayout(found)
        layout.addWidget(QLabel("<b>Frames made</b>"))
        layout.addLayout(chosen)
        layout.addWidget(self._apply)
        self._audio = QComboBox(objectName="sourceAudioTrack")
        self._audio.setToolTip("Which of the source's audio tracks the output carries, e.g. a "
                               "disc's second language (undoable)")
        self._audio.activated.connect(
            lambda row: self.audioTrackChosen.emit(self._audio.itemData(row)))
        sound = QFormLayout()
        sound.addRow("Audio track", self._audio)
        layout.addWidget(QLabel("<b>Sound</b>"))
        layout.addLayout(sound)
        layout.addStretch(1)
        self._update_apply()

    def choices(self) -> dict[str, str]:
        return {name: box.currentData() for name, box in self._boxes.items()}

    def show_project(self, project: Project) -> None:
        info = project.source.info
        cond = info.conditioning
        self._current = {name: getattr(cond, name) for name, _, _ in CHOICES}
        for name, box in self._boxes.items():
            with QSignalBlocker(box):
                box.setCurrentIndex(box.findData(self._current[name]))
        a = info.analysis
        if a is None:
            texts = {"scan": "not analysed (made by an earlier version)", "order": "–",
                     "comb": "–", "colour": "–"}  # fmt: skip
        else:
            orders = {"tff": "top first", "bff": "bottom first", "progressive": "none",
                      "changes": "changes partway", "unknown": "not flagged"}  # fmt: skip
            texts = {
                "scan": a.scan + (f", {a.cadence} cadence" if a.cadence else ""),
                "order": f"{orders[a.field_order]} (flagged: {orders[a.flagged_order]})",
                "comb": f"{a.comb:+.2f} over {a.sampled} moving frames (above 0: combed)",
                "colour": f"{a.matrix.upper()}, {'full' if a.full_range else 'limited'} range, "
                          f"{a.primaries}/{a.transfer}"
                          + ("" if a.colour_tagged else " (untagged: standard for the size)"),
            }
        mode = _MODES[cond.mode] + (", along the motion" if cond.motion else "")
        texts["frames"] = f"{info.frame_count} at {float(info.fps):.3f} fps: {mode}"
        for key, text in texts.items():
            self._found[key].setText(text)
        with QSignalBlocker(self._audio):
            self._audio.clear()
            for track, audio in enumerate(info.audio, 1):
                self._audio.addItem(audio.describe(track), track)
            if not info.audio:
                self._audio.addItem("none: the source has no audio", 0)
            self._audio.setCurrentIndex(max(self._audio.findData(project.output.audio_track), 0))
        self._audio.setEnabled(len(info.audio) > 1)  # nothing to choose between otherwise
        self._update_apply()

    def _update_apply(self) -> None:
        self._apply.setEnabled(bool(self._current) and self.choices() != self._current)
