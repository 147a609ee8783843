"""The timeline: a cell per frame coloured by its render state, markers, ruler and playhead.

Markers: keyframe diamonds, masks as bars over the frames they cover (held masks solid, tracked
ones in another colour with end caps), and a line at each cut where a new shot starts.

Painting is proportional to the widget's width, not to the number of frames: when frames are
narrower than a pixel, numpy reduces each pixel column to its most urgent state, and runs of
equal colour are drawn as one rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import shiboken6
from PySide6.QtCore import QEvent, QLineF, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QMenu, QToolTip, QWidget

from sdhd_studio.core.timecode import clock, frame_time
from sdhd_studio.render.status import FrameState

# Okabe-Ito-like hues that stay apart for the common colour-vision deficiencies: the states
# differ in lightness as well as hue (failed is a crimson, darker than amber dirty).
STATE_COLOURS: dict[FrameState, QColor] = {
    FrameState.EMPTY: QColor("#4a4e56"),
    FrameState.DIRTY: QColor("#e69f00"),
    FrameState.QUEUED: QColor("#a3cdf2"),
    FrameState.RENDERING: QColor("#1e88ff"),
    FrameState.DONE: QColor("#009e73"),
    FrameState.FAILED: QColor("#e0245e"),
}

# What a pixel column holding many frames shows: the state that most needs attention.
_BY_URGENCY = np.array(
    [FrameState.DONE, FrameState.EMPTY, FrameState.DIRTY, FrameState.QUEUED,
     FrameState.RENDERING, FrameState.FAILED],
    dtype=np.uint8,
)  # fmt: skip
_URGENCY = np.argsort(_BY_URGENCY).astype(np.uint8)

MAX_PIXELS_PER_FRAME = 32.0
_ZOOM_STEP = 1.25  # per wheel notch
_PAN_FRACTION = 1 / 8  # of the visible width, per wheel notch
_EPS = 1e-7  # keeps x -> frame -> x exact when the zoom is a fraction like width / count

# Rows, top to bottom (px); the cells take what the widget's height leaves.
_RULER_H = 20
_MARKERS_H = 18
_OVERVIEW_H = 4
_DIAMOND = 5  # half-width of a keyframe diamond
_SEPARATE_CELLS_FROM = 5.0  # px per frame from which a gap is drawn between cells
_FAILED_MIN_W = 3  # px

_BACKGROUND = QColor("#1b1c1f")
_RULER_BG = QColor("#26282d")
_TICK = QColor("#7d828c")
_LABEL = QColor("#c9ccd2")
_KEYFRAME = QColor("#f2f2f2")
_MASK = QColor("#b38cff")
_TRACKED_MASK = QColor("#56b4e9")  # sky blue: apart from the held masks' purple in lightness
_CUT = QColor("#f0e442")  # yellow: no state colour is as light
_CUT_W = 2  # px
# What the legend shows for the markers: a symbol like the mark and its colour.
MARKER_COLOURS: dict[str, tuple[str, QColor]] = {
    "cut": ("┃", _CUT), "mask": ("▬", _MASK), "tracked mask": ("▬", _TRACKED_MASK),
}
_CUT_REACH = 4  # px either side of a cut line that a right-click still finds it at
_SELECTION = QColor(255, 255, 255, 56)
_SELECTION_EDGE = QColor(255, 255, 255, 170)
_PLAYHEAD = QColor("#ffffff")
_PLAYHEAD_HALO = QColor(0, 0, 0, 160)


def cell_runs(
    states: np.ndarray, first: float, ppf: float, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal colour across `width` pixels: left edges, right edges (px) and states.

    `first` is the (fractional) frame at x = 0 and `ppf` the pixels per frame. Pixel column x
    shows frame floor(first + x / ppf), or below one pixel per frame the most urgent state of
    the frames from that one up to the next column's.
    """
    count = len(states)
    if count == 0 or width <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.uint8)
    if ppf >= 1:
        lo = int(first)
        hi = min(count, int(math.floor(first + width / ppf)) + 1)
        values = states[lo:hi]
        edges = np.ceil((np.arange(lo, hi + 1) - first) * ppf - _EPS).astype(np.int64)
    else:
        bounds = np.floor(first + np.arange(width + 1) / ppf + _EPS).astype(np.int64)
        columns = int(np.searchsorted(bounds[:width], count))
        starts = bounds[:columns]
        lo, hi = int(starts[0]), min(count, int(bounds[columns]))
        urgency = np.maximum.reduceat(_URGENCY[states[lo:hi]], starts - lo)
        values = _BY_URGENCY[urgency]
        edges = np.arange(columns + 1, dtype=np.int64)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    run_starts = np.concatenate(([0], change))
    run_ends = np.concatenate((change, [len(values)]))
    return edges[run_starts], edges[run_ends], values[run_starts]


def _merge_spans(x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel spans merged where they overlap or touch, so many masks cost few rects."""
    if len(x0) == 0:
        return x0, x1
    order = np.argsort(x0, kind="stable")
    x0, x1 = x0[order], x1[order]
    reach = np.maximum.accumulate(x1)
    new = np.concatenate(([True], x0[1:] > reach[:-1]))
    group = np.cumsum(new) - 1
    ends = np.zeros(group[-1] + 1, dtype=x1.dtype)
    np.maximum.at(ends, group, x1)
    return x0[new], ends


class MaskMarker(NamedTuple):
    """A mask on the timeline: painted on `painted`, applied to `first`..`end`; a tracked one
    is carried there by optical flow. A plain (painted, end) pair is a held mask."""

    painted: int
    end: int
    first: int | None = None  # None: `painted`
    tracked: bool = False

    @property
    def start(self) -> int:
        return self.painted if self.first is None else self.first


@dataclass(frozen=True)
class RulerTicks:
    """Tick positions in frames (frame N starts at N); a label is drawn right of each major."""

    minor: list[float]
    major: list[float]
    labels: list[str]


_FRAME_STEPS = (1, 2, 5, 10, 20, 50)
_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400)  # fmt: skip
_LABEL_PAD = 3  # px between a tick and its label
_LABEL_GAP = 12  # px at least between one label's end and the next tick


def ruler_ticks(
    first: float,
    last: float,
    ppf: float,
    count: int,
    fps: Fraction,
    text_width: Callable[[str], float],
) -> RulerTicks:
    """Ticks for frames first..last: times (mm:ss, h:mm:ss for an hour or more), or frame
    numbers once ticks less than a second apart have room for their labels.

    Labels are spaced by at least the widest label plus a gap, so they never overlap.
    """
    rate = float(fps)
    hours = count / fps >= 3600
    frame_room = text_width(str(max(count - 1, 0))) + _LABEL_PAD + _LABEL_GAP
    time_room = text_width(clock(0, hours)) + _LABEL_PAD + _LABEL_GAP
    steps = [(float(s), False) for s in _FRAME_STEPS if s < rate]
    steps += [(s * rate, True) for s in _SECOND_STEPS]
    major, in_time = next(
        ((step, t) for step, t in steps if step * ppf >= (time_room if t else frame_room)),
        steps[-1],
    )
    minor = next(
        (
            step
            for step, t in steps
            if t == in_time
            and step < major
            and step * ppf >= 6
            and round(major / step) <= 10
            and abs(major / step - round(major / step)) < 1e-6
        ),
        None,
    )
    end = min(last, count)

    def positions(step: float, inclusive_end: bool) -> list[float]:
        ks = range(math.floor(first / step), math.floor(end / step) + 1)
        return [k * step for k in ks if k * step < count or (inclusive_end and k * step <= count)]

    major_positions = positions(major, inclusive_end=False)
    if in_time:
        labels = [clock(round(p / rate), hours) for p in major_positions]
    else:
        labels = [str(round(p)) for p in major_positions]
    return RulerTicks(positions(minor, True) if minor else [], major_positions, labels)


class TimelineWidget(QWidget):
    """One cell per frame coloured by state, keyframe and mask markers, playhead and ruler.

    Signals are emitted for what the user does, not for calls made from code.
    """

    currentFrameChanged = Signal(int)  # the user scrubbed (click or drag)
    selectionChanged = Signal(int, int)  # first, last inclusive; (-1, -1) when cleared
    addKeyframeRequested = Signal(int)
    removeKeyframeRequested = Signal(int)
    renderRangeRequested = Signal(int, int)  # inclusive
    clearMaskRequested = Signal(int)  # the frame the mask was painted on
    cutRequested = Signal(int, bool)  # frame, True: a new shot starts there; False: no more
    autoKeyframesRequested = Signal()  # "Add keyframes automatically…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._count = 0
        self._fps = Fraction(25)
        self._states = np.zeros(0, dtype=np.uint8)
        self._errors: Mapping[int, str] = {}
        self._keyframes = np.zeros(0, dtype=np.int64)
        self._masks: list[MaskMarker] = []
        self._mask_painted = np.zeros(0, dtype=np.int64)
        self._mask_starts = np.zeros(0, dtype=np.int64)
        self._mask_ends = np.zeros(0, dtype=np.int64)
        self._mask_tracked = np.zeros(0, dtype=bool)
        self._cuts = np.zeros(0, dtype=np.int64)
        self._current = 0
        self._selection: tuple[int, int] | None = None
        self._ppf = 1.0
        self._first = 0.0  # frame at x = 0, fractional
        self._fitted = True  # follow the width on resize until the user zooms
        self._drag: str | None = None  # "scrub" or "select" while a button is held
        self._anchor = 0
        self._diamond: QPixmap | None = None
        font = self.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        self._ruler_font = font
        self.setMinimumHeight(_RULER_H + _MARKERS_H + 12 + _OVERVIEW_H)

    # --- data -------------------------------------------------------------------------------

    def set_frame_count(self, count: int, fps: Fraction) -> None:
        """A new video: every frame empty, no markers or selection, the whole video in view."""
        if count < 0:
            raise ValueError(f"frame count must not be negative, got {count}")
        if fps <= 0:
            raise ValueError(f"frame rate must be positive, got {fps}")
        self._count = count
        self._fps = Fraction(fps)
        self._states = np.zeros(count, dtype=np.uint8)
        self._errors = {}
        self.set_markers([], [])
        self._current = 0
        self._selection = None
        self._drag = None
        self.zoom_to_fit()

    def set_states(self, states: np.ndarray, errors: Mapping[int, str]) -> None:
        """Frame states (uint8 FrameState values); the array is kept, not copied, so a caller
        that updates it in place only needs to call `update()`."""
        if len(states) != self._count:
            raise ValueError(f"the timeline has {self._count} frames, got {len(states)} states")
        self._states = states
        self._errors = errors
        self.update()

    def set_markers(
        self,
        keyframes: Sequence[int],
        masks: Sequence[MaskMarker | tuple[int, int]],
        cuts: Iterable[int] = (),
    ) -> None:
        """Keyframe frames; masks as MaskMarkers or (frame painted on, last frame it applies
        to); the frames where a new shot starts."""
        self._keyframes = np.unique(np.asarray(keyframes, dtype=np.int64))
        markers = sorted((MaskMarker(*mask) for mask in masks), key=lambda m: m.painted)
        self._masks = markers
        self._mask_painted = np.array([m.painted for m in markers], dtype=np.int64)
        self._mask_starts = np.array([m.start for m in markers], dtype=np.int64)
        self._mask_ends = np.array([m.end for m in markers], dtype=np.int64)
        self._mask_tracked = np.array([m.tracked for m in markers], dtype=bool)
        self._cuts = np.unique(np.asarray(list(cuts), dtype=np.int64))
        self.update()

    # --- playhead and selection -----------------------------------------------------------

    def current_frame(self) -> int:
        return self._current

    def set_current_frame(self, index: int) -> None:
        """Move the playhead; the view scrolls to centre it if it would be off screen."""
        index = self._clamp(index)
        if index == self._current:
            return
        self._current = index
        x = self._x_of(index + 0.5)
        if not 0 <= x < self.width():
            self._scroll_to(index + 0.5 - self.width() / (2 * self._ppf))
        self.update()

    def selection(self) -> tuple[int, int] | None:
        return self._selection

    def set_selection(self, first: int, last: int) -> None:
        if self._count == 0:
            return
        first, last = sorted((self._clamp(first), self._clamp(last)))
        self._selection = (first, last)
        self.update()

    def clear_selection(self) -> None:
        self._selection = None
        self.update()

    # --- zoom and scroll --------------------------------------------------------------------

    def pixels_per_frame(self) -> float:
        return self._ppf

    def zoom_to_fit(self) -> None:
        self._fitted = True
        self._ppf = self._fit_ppf()
        self._first = 0.0
        self.update()

    def set_pixels_per_frame(self, ppf: float) -> None:
        """Zoom around the playhead if it is in view, else around the middle of the view."""
        x = self._x_of(self._current + 0.5)
        self._zoom(ppf, x if 0 <= x < self.width() else self.width() / 2)

    def frame_at(self, x: float) -> int:
        """The frame drawn at x (widget pixels), clamped to the video; -1 without frames."""
        if self._count == 0:
            return -1
        return self._clamp(math.floor(self._first + x / self._ppf + _EPS))

    def _fit_ppf(self) -> float:
        return max(1, self.width()) / max(1, self._count)

    def _zoom(self, ppf: float, anchor_x: float) -> None:
        """Set the zoom keeping the frame position under `anchor_x` where it is."""
        if self._count == 0:
            return
        fit = self._fit_ppf()
        ppf = min(max(ppf, fit), max(fit, MAX_PIXELS_PER_FRAME))
        position = self._first + anchor_x / self._ppf
        self._ppf = ppf
        self._fitted = ppf == fit
        self._scroll_to(position - anchor_x / ppf)

    def _scroll_to(self, first: float) -> None:
        last_start = max(0.0, self._count - self.width() / self._ppf)
        self._first = min(max(first, 0.0), last_start)
        self.update()

    def _x_of(self, frame_position: float) -> float:
        return (frame_position - self._first) * self._ppf

    def _clamp(self, index: int) -> int:
        return min(max(int(index), 0), max(self._count - 1, 0))

    # --- events -----------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(800, 70)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.minimumHeight())

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fitted:
            self.zoom_to_fit()
        else:
            self._zoom(self._ppf, 0)
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        pan = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier) or (
            delta.y() == 0 and delta.x() != 0
        )
        notches = (delta.y() or delta.x()) / 120
        if notches == 0 or self._count == 0:
            event.ignore()
            return
        if pan:
            self._scroll_to(self._first - notches * self.width() * _PAN_FRACTION / self._ppf)
        else:
            self._zoom(self._ppf * _ZOOM_STEP**notches, event.position().x())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._count == 0 or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        frame = self.frame_at(self._inside(event.position().x()))
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._drag = "select"
            self._anchor = frame
            self._select(frame, frame)
        else:
            self._drag = "scrub"
            self._scrub(frame, always=True)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            super().mouseMoveEvent(event)
            return
        frame = self.frame_at(self._inside(event.position().x()))
        if self._drag == "select":
            self._select(self._anchor, frame)
        else:
            self._scrub(frame)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._drag is not None:
            self._drag = None
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _inside(self, x: float) -> float:
        # A drag past either end stops at the first or last frame in view.
        return min(max(x, 0.0), self.width() - 1.0)

    def _scrub(self, frame: int, always: bool = False) -> None:
        if frame == self._current and not always:
            return
        self._current = frame
        self.update()
        self.currentFrameChanged.emit(frame)

    def _select(self, a: int, b: int) -> None:
        selection = (min(a, b), max(a, b))
        if selection == self._selection:
            return
        self._selection = selection
        self.update()
        self.selectionChanged.emit(*selection)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._count == 0:
            return
        menu = self.context_menu(event.pos().x())
        menu.exec(event.globalPos())
        # Deleted here: deleteLater() crashed PySide (6.11) when pytest-qt processed the event.
        shiboken6.delete(menu)

    def context_menu(self, x: float) -> QMenu:
        """The menu a right-click at x opens: keyframe, render, mask and selection actions."""
        frame = self.frame_at(x)
        menu = QMenu(self)
        keyframe = self._keyframe_at(x)
        if keyframe is None:
            menu.addAction("Add keyframe here", lambda: self.addKeyframeRequested.emit(frame))
        else:
            menu.addAction(
                f"Remove keyframe at frame {keyframe}",
                lambda: self.removeKeyframeRequested.emit(keyframe),
            )
        sel = self._selection
        first, last = sel if sel is not None and sel[0] <= frame <= sel[1] else (frame, frame)
        label = f"Render frames {first}–{last}" if last > first else f"Render frame {first}"
        menu.addAction(label, lambda: self.renderRangeRequested.emit(first, last))
        mask = self._mask_at(frame)
        if mask is not None:
            menu.addAction(
                f"Clear mask (frames {mask.start}–{mask.end})",
                lambda: self.clearMaskRequested.emit(mask.painted),
            )
        menu.addSeparator()
        cut = self._cut_at(x)
        if cut is not None:
            menu.addAction(f"Remove cut at frame {cut}", lambda: self.cutRequested.emit(cut, False))
        elif frame > 0:
            menu.addAction("Cut here (a new shot starts at this frame)",
                           lambda: self.cutRequested.emit(frame, True))
        menu.addAction("Add keyframes automatically…", lambda: self.autoKeyframesRequested.emit())
        if sel is not None:
            menu.addSeparator()
            menu.addAction("Clear selection", self._user_clears_selection)
        return menu

    def _user_clears_selection(self) -> None:
        self.clear_selection()
        self.selectionChanged.emit(-1, -1)

    def _keyframe_at(self, x: float) -> int | None:
        """The keyframe under x: on the frame there, or where frames are too narrow to aim at,
        the nearest diamond that x touches."""
        if len(self._keyframes) == 0:
            return None
        frame = self.frame_at(x)
        if self._ppf >= 2:
            return frame if self._has_keyframe(frame) else None
        centres = self._x_of(self._keyframes + 0.5)
        distance = np.abs(centres - x)
        nearest = int(np.argmin(distance))
        return int(self._keyframes[nearest]) if distance[nearest] <= _DIAMOND + 1 else None

    def _has_keyframe(self, frame: int) -> bool:
        i = int(np.searchsorted(self._keyframes, frame))
        return i < len(self._keyframes) and self._keyframes[i] == frame

    def _mask_at(self, frame: int) -> MaskMarker | None:
        """The mask applied at `frame`, as the project picks it: of those covering it, the
        last painted at or before it, else the first painted after it (a tracked mask can
        reach back)."""
        covering = [m for m in self._masks if m.start <= frame <= m.end]
        before = [m for m in covering if m.painted <= frame]
        return before[-1] if before else (covering[0] if covering else None)

    def _cut_at(self, x: float) -> int | None:
        """The cut whose line x is on: the cut at the frame there, or where frames are narrow,
        the nearest line within a few pixels."""
        if len(self._cuts) == 0:
            return None
        lines = self._x_of(self._cuts)
        nearest = int(np.argmin(np.abs(lines - x)))
        if abs(lines[nearest] - x) <= _CUT_REACH:
            return int(self._cuts[nearest])
        frame = self.frame_at(x)
        i = int(np.searchsorted(self._cuts, frame))
        return frame if i < len(self._cuts) and self._cuts[i] == frame else None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.tooltip_text(event.pos().x())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def tooltip_text(self, x: float) -> str:
        """What hovering at x tells: the frame, its time and state (and error), its markers.

        Where a pixel holds many frames, the frame described is the one that gives the pixel
        its colour, so a red pixel explains its failure.
        """
        if self._count == 0:
            return ""
        frame = self._frame_shown_at(x)
        state = FrameState(int(self._states[frame]))
        hours = self._count / self._fps >= 3600
        lines = [f"frame {frame} · {frame_time(frame, self._fps, hours)} · {state.label}"]
        if state == FrameState.FAILED and frame in self._errors:
            lines.append(self._errors[frame])
        keyframe = self._keyframe_at(x)
        if keyframe is not None:
            lines.append(f"keyframe at frame {keyframe}")
        cut = self._cut_at(x)
        if cut is not None:
            lines.append(f"cut: a new shot starts at frame {cut}")
        mask = self._mask_at(frame)
        if mask is not None and mask.tracked:
            lines.append(f"mask painted on frame {mask.painted}, tracked over frames "
                         f"{mask.start}–{mask.end}")
        elif mask is not None:
            lines.append(f"mask painted on frame {mask.painted}, applied to {mask.end}")
        return "\n".join(lines)

    def _frame_shown_at(self, x: float) -> int:
        """The frame whose colour pixel x shows; a failure drawn over x (widened) wins."""
        column = math.floor(x)
        lo, hi = self._frames_in_columns(column, column + 1)
        frame = lo + int(np.argmax(_URGENCY[self._states[lo:hi]]))
        if self._states[frame] != FrameState.FAILED and self._ppf < _FAILED_MIN_W:
            lo, hi = self._frames_in_columns(column - 1, column + 2)
            failed = np.flatnonzero(self._states[lo:hi] == FrameState.FAILED)
            if len(failed):
                frame = lo + int(failed[0])
        return frame

    def _frames_in_columns(self, left: int, right: int) -> tuple[int, int]:
        """Frames drawn in pixel columns left..right-1, as a non-empty range [lo, hi)."""
        lo = self.frame_at(left)
        hi = min(self._count, math.floor(self._first + right / self._ppf + _EPS))
        return lo, max(hi, lo + 1)

    # --- painting ---------------------------------------------------------------------------

    def _rows(self) -> tuple[int, int, int, int]:
        """Top of the markers row, top and height of the cells, top of the overview strip."""
        markers = _RULER_H
        cells = markers + _MARKERS_H
        overview = self.height() - _OVERVIEW_H
        return markers, cells, max(4, overview - cells - 1), overview

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), _BACKGROUND)
            painter.fillRect(0, 0, self.width(), _RULER_H, _RULER_BG)
            if self._count == 0:
                painter.setPen(_LABEL)
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No video")
                return
            self._paint_ruler(painter)
            self._paint_cells(painter)
            self._paint_cuts(painter)
            self._paint_markers(painter)
            self._paint_selection(painter)
            self._paint_playhead(painter)
            self._paint_overview(painter)
        finally:
            painter.end()

    def _paint_cells(self, painter: QPainter) -> None:
        _, top, height, _ = self._rows()
        x0, x1, states = cell_runs(self._states, self._first, self._ppf, self.width())
        colours = [STATE_COLOURS[state] for state in FrameState]
        for left, right, state in zip(x0.tolist(), x1.tolist(), states.tolist(), strict=True):
            painter.fillRect(left, top, right - left, height, colours[state])
        # A lone failure would be a hairline at fit zoom: failed runs get a few pixels at least.
        narrow = (states == FrameState.FAILED) & (x1 - x0 < _FAILED_MIN_W)
        failed = STATE_COLOURS[FrameState.FAILED]
        for left, right in zip(x0[narrow].tolist(), x1[narrow].tolist(), strict=True):
            pad = _FAILED_MIN_W - (right - left)
            painter.fillRect(left - pad // 2, top, _FAILED_MIN_W, height, failed)
        if self._ppf >= _SEPARATE_CELLS_FROM:
            lo = int(self._first)
            hi = min(self._count, int(self._first + self.width() / self._ppf) + 1)
            edges = np.ceil((np.arange(lo + 1, hi + 1) - self._first) * self._ppf - _EPS)
            painter.setPen(QPen(_BACKGROUND, 1))
            painter.drawLines([QLineF(x, top, x, top + height - 1) for x in edges.tolist()])

    def _paint_cuts(self, painter: QPainter) -> None:
        """A line down the markers and cells rows on the left edge of each cut's frame."""
        if len(self._cuts) == 0:
            return
        row, cells, height, _ = self._rows()
        xs = np.ceil(self._x_of(self._cuts) - _EPS).astype(np.int64)
        xs = np.unique(xs[(xs >= 0) & (xs <= self.width())])
        for x in xs.tolist():
            painter.fillRect(x - _CUT_W // 2, row, _CUT_W, cells + height - row, _CUT)
            # A notch at the top of the markers row, so a cut reads as one at a glance.
            painter.fillRect(x - 3, row, 6, 2, _CUT)

    def _paint_markers(self, painter: QPainter) -> None:
        row, _, _, _ = self._rows()
        width = self.width()
        if len(self._mask_starts):
            x0 = np.ceil(self._x_of(self._mask_starts) - _EPS).astype(np.int64)
            x1 = np.ceil(self._x_of(self._mask_ends + 1) - _EPS).astype(np.int64)
            x1 = np.maximum(x1, x0 + 2)
            tabs = np.ceil(self._x_of(self._mask_painted) - _EPS).astype(np.int64)
            seen = (x1 > 0) & (x0 < width)
            bar_top = row + _MARKERS_H - 5
            for tracked, colour in ((False, _MASK), (True, _TRACKED_MASK)):
                chosen = seen & (self._mask_tracked == tracked)
                lefts, rights = _merge_spans(x0[chosen], x1[chosen])
                for left, right in zip(lefts.tolist(), rights.tolist(), strict=True):
                    painter.fillRect(left, bar_top, right - left, 3, colour)
                if tracked:
                    # Brackets: caps at both ends of each tracked span.
                    for left, right in zip(x0[chosen].tolist(), x1[chosen].tolist(),
                                           strict=True):
                        painter.fillRect(left, bar_top - 3, 1, 6, colour)
                        painter.fillRect(right - 1, bar_top - 3, 1, 6, colour)
                # A tab where each mask was painted: that frame is what "Clear mask" removes.
                for left in np.unique(tabs[chosen]).tolist():
                    painter.fillRect(left, bar_top - 6, 2, 9, colour)
        if len(self._keyframes):
            centres = np.round(self._x_of(self._keyframes + 0.5)).astype(np.int64)
            centres = np.unique(centres[(centres > -_DIAMOND) & (centres < width + _DIAMOND)])
            diamond = self._diamond_pixmap()
            half = round(diamond.width() / diamond.devicePixelRatio()) // 2
            for cx in centres.tolist():
                painter.drawPixmap(cx - half, row + 1, diamond)

    def _diamond_pixmap(self) -> QPixmap:
        """A keyframe diamond drawn once (antialiased drawing per keyframe costs milliseconds)."""
        ratio = self.devicePixelRatioF()
        if self._diamond is None or self._diamond.devicePixelRatio() != ratio:
            side = 2 * _DIAMOND + 3  # odd, so the tip sits on the keyframe's pixel column
            pixmap = QPixmap(round(side * ratio), round(side * ratio))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QPen(_BACKGROUND, 1.2))
            painter.setBrush(_KEYFRAME)
            c = side / 2
            painter.drawPolygon(
                QPolygonF(
                    [QPointF(c, c - _DIAMOND), QPointF(c + _DIAMOND, c),
                     QPointF(c, c + _DIAMOND), QPointF(c - _DIAMOND, c)]
                )
            )  # fmt: skip
            painter.end()
            self._diamond = pixmap
        return self._diamond

    def _paint_selection(self, painter: QPainter) -> None:
        if self._selection is None:
            return
        first, last = self._selection
        left = math.ceil(self._x_of(first) - _EPS)
        right = max(math.ceil(self._x_of(last + 1) - _EPS), left + 1)
        if right < 0 or left > self.width():
            return
        row, cells, height, _ = self._rows()
        bottom = cells + height
        painter.fillRect(left, row, right - left, bottom - row, _SELECTION)
        painter.setPen(QPen(_SELECTION_EDGE, 1))
        painter.drawLine(left, row, left, bottom - 1)
        painter.drawLine(right - 1, row, right - 1, bottom - 1)

    def _paint_playhead(self, painter: QPainter) -> None:
        x = math.floor(self._x_of(self._current + 0.5))
        if not -_DIAMOND <= x <= self.width() + _DIAMOND:
            return
        _, cells, height, _ = self._rows()
        bottom = cells + height
        painter.fillRect(x - 1, 0, 3, bottom, _PLAYHEAD_HALO)
        painter.fillRect(x, 0, 1, bottom, _PLAYHEAD)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(_PLAYHEAD_HALO, 1))
        painter.setBrush(_PLAYHEAD)
        painter.drawPolygon(
            QPolygonF([QPointF(x - 5.5, 0), QPointF(x + 6.5, 0), QPointF(x + 0.5, 7)])
        )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_overview(self, painter: QPainter) -> None:
        """Where the view lies in the whole video; only drawn when zoomed in."""
        if self._fitted:
            return
        _, _, _, top = self._rows()
        width = self.width()
        left = self._first / self._count * width
        span = max(6.0, width / self._ppf / self._count * width)
        painter.fillRect(0, top, width, _OVERVIEW_H, _RULER_BG)
        painter.fillRect(
            QRect(round(min(left, width - span)), top, round(span), _OVERVIEW_H), _TICK
        )

    def _paint_ruler(self, painter: QPainter) -> None:
        painter.setFont(self._ruler_font)
        metrics = painter.fontMetrics()
        view_end = self._first + self.width() / self._ppf
        ticks = ruler_ticks(
            self._first, view_end, self._ppf, self._count, self._fps, metrics.horizontalAdvance
        )
        lines = []
        for positions, length in ((ticks.minor, 4), (ticks.major, 8)):
            for position in positions:
                x = math.ceil(self._x_of(position) - _EPS)
                lines.append(QLineF(x, _RULER_H - length, x, _RULER_H - 1))
        painter.setPen(_TICK)
        painter.drawLines(lines)
        painter.setPen(_LABEL)
        baseline = metrics.ascent() + 1
        for position, text in zip(ticks.major, ticks.labels, strict=True):
            x = math.ceil(self._x_of(position) - _EPS)
            # A label cut by either edge reads as another number ("59760" as "760"): skip it.
            if x >= 0 and x + _LABEL_PAD + metrics.horizontalAdvance(text) <= self.width():
                painter.drawText(x + _LABEL_PAD, baseline, text)
