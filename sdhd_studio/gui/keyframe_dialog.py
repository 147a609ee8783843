"""Asking how to place keyframes automatically: every N frames, and whether to look for the cuts
where shots change (a keyframe at each; reading the whole video takes a while)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdhd_studio.core.project import Project

DEFAULT_EVERY = 8


class AutoKeyframesDialog(QDialog):
    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add keyframes automatically")
        count = project.frame_count
        self.every_spin = QSpinBox(minimum=1, maximum=max(1, count))
        self.every_spin.setValue(DEFAULT_EVERY)
        self.every_spin.setSuffix(" frames")
        self.every_spin.setToolTip(
            "A keyframe on frame 0 and every N frames after it. In guided mode keyframes get "
            "the full upscaler and the frames between them borrow their detail."
        )
        self.cuts_box = QCheckBox("Find scene cuts and put a keyframe at each")
        self.cuts_box.setChecked(True)
        self.cuts_box.setToolTip(
            "Reads the whole video to find where shots change; nothing is interpolated or "
            "carried across a cut"
        )
        self._count, self._known = count, len(project.cuts)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.cuts_box.toggled.connect(self._explain)
        self._explain()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add keyframes")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Every:", self.every_spin)
        form.addRow("", self.cuts_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)

    def _explain(self) -> None:
        reading = f"Finding cuts reads all {self._count} frames. " if self.find_cuts() else ""
        if self._known:
            marked = f"The {self._known} cuts already marked get keyframes too."
        else:
            marked = "Cuts can also be marked by hand: right-click the timeline."
        self.note.setText(reading + marked)

    def every(self) -> int:
        return self.every_spin.value()

    def find_cuts(self) -> bool:
        return self.cuts_box.isChecked()
