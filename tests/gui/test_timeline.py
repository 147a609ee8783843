from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QContextMenuEvent, QHelpEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QToolTip

from sdhd_studio.gui.timeline import (
    MAX_PIXELS_PER_FRAME,
    STATE_COLOURS,
    MaskMarker,
    TimelineWidget,
    ruler_ticks,
)
from sdhd_studio.render.status import FrameState

S = FrameState
ROW_Y = 50  # a point in the cells row of a 70 px tall timeline


def timeline(qtbot, frames: int, width: int, fps: Fraction = Fraction(25)) -> TimelineWidget:
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.resize(width, 70)
    widget.set_frame_count(frames, fps)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def pixel(widget: TimelineWidget, x: int, y: int | None = None) -> QColor:
    return widget.grab().toImage().pixelColor(x, widget.height() - 12 if y is None else y)


NO_KEYS = Qt.KeyboardModifier.NoModifier


def mouse(widget, kind, x, button=Qt.MouseButton.LeftButton, modifiers=NO_KEYS):
    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}  # fmt: skip
    held = Qt.MouseButton.NoButton if kind == "release" else button
    pos = QPointF(x, ROW_Y)
    changed = Qt.MouseButton.NoButton if kind == "move" else button
    event = QMouseEvent(types[kind], pos, widget.mapToGlobal(pos), changed, held, modifiers)
    QApplication.sendEvent(widget, event)


def wheel(widget, x, notches, modifiers=NO_KEYS, horizontal=False):
    pos = QPointF(x, ROW_Y)
    delta = QPoint(int(120 * notches), 0) if horizontal else QPoint(0, int(120 * notches))
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), delta, Qt.MouseButton.NoButton,
                        modifiers, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(widget, event)


def right_click_menu(widget, x, choose: str | None = None) -> list[str]:
    """Right-click at x the way a user does; returns the menu's entries, optionally picking one
    (by the start of its text)."""
    seen: list[str] = []

    def use_menu():
        menu = QApplication.activePopupWidget()
        try:
            actions = [a for a in menu.actions() if not a.isSeparator()]
            seen.extend(a.text() for a in actions)
            if choose is not None:
                next(a for a in actions if a.text().startswith(choose)).trigger()
        finally:
            menu.close()

    QTimer.singleShot(0, use_menu)
    pos = QPoint(int(x), ROW_Y)
    QApplication.sendEvent(
        widget, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))
    )
    return seen


def tooltip(widget, x) -> str:
    pos = QPoint(int(x), ROW_Y)
    QApplication.sendEvent(widget, QHelpEvent(QEvent.Type.ToolTip, pos, widget.mapToGlobal(pos)))
    text = QToolTip.text()
    QToolTip.hideText()
    return text


# --- what the cells show -------------------------------------------------------------------


@pytest.mark.parametrize("state", list(FrameState))
def test_each_state_is_drawn_in_its_colour(qtbot, state):
    widget = timeline(qtbot, 100, 400)  # 4 px per frame
    states = np.full(100, S.EMPTY if state != S.EMPTY else S.DONE, dtype=np.uint8)
    states[10] = state
    widget.set_states(states, {})
    assert pixel(widget, 10 * 4 + 2) == STATE_COLOURS[state]
    assert pixel(widget, 11 * 4 + 2) != STATE_COLOURS[state]


def test_colours_are_distinct():
    names = {colour.name() for colour in STATE_COLOURS.values()}
    assert len(names) == len(FrameState)


def test_single_failed_frame_shows_red_at_fit_zoom_on_100k_frames(qtbot):
    widget = timeline(qtbot, 100_000, 1600)
    states = np.full(100_000, S.DONE, dtype=np.uint8)
    states[54_321] = S.FAILED
    widget.set_states(states, {54_321: "decoder: corrupt frame"})
    assert widget.pixels_per_frame() == pytest.approx(0.016)
    column = int(54_321 * 1600 / 100_000)
    image = widget.grab().toImage()
    # A few pixels wide, so that it is seen.
    for x in (column - 1, column, column + 1):
        assert image.pixelColor(x, 58) == STATE_COLOURS[S.FAILED]
    assert image.pixelColor(column - 20, 58) == STATE_COLOURS[S.DONE]
    assert image.pixelColor(column + 20, 58) == STATE_COLOURS[S.DONE]
    # Hovering the red line (or right beside it) explains the failure.
    for x in (column - 1, column, column + 1):
        text = tooltip(widget, x)
        assert text.startswith("frame 54321 ·") and "failed" in text
        assert "decoder: corrupt frame" in text


@pytest.mark.parametrize(
    ("mix", "shown"),
    [
        ((S.DONE, S.EMPTY), S.EMPTY),
        ((S.EMPTY, S.DIRTY), S.DIRTY),
        ((S.DIRTY, S.QUEUED), S.QUEUED),
        ((S.QUEUED, S.RENDERING), S.RENDERING),
        ((S.RENDERING, S.FAILED, S.DONE), S.FAILED),
    ],
)
def test_a_pixel_holding_many_frames_shows_the_most_urgent_state(qtbot, mix, shown):
    widget = timeline(qtbot, 10_000, 100)  # 100 frames per pixel
    states = np.full(10_000, S.DONE, dtype=np.uint8)
    states[5000:5100] = mix[0]  # column 50
    for i, state in enumerate(mix[1:]):
        states[5040 + i] = state
    widget.set_states(states, {})
    assert pixel(widget, 50) == STATE_COLOURS[shown]


def test_states_updated_in_place_show_after_update(qtbot):
    widget = timeline(qtbot, 100, 400)
    states = np.zeros(100, dtype=np.uint8)
    widget.set_states(states, {})
    states[20:30] = S.RENDERING
    widget.update()
    assert pixel(widget, 25 * 4) == STATE_COLOURS[S.RENDERING]


def test_states_of_the_wrong_length_are_refused_and_the_old_ones_kept(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_states(np.full(100, S.DONE, dtype=np.uint8), {})
    with pytest.raises(ValueError, match="100 frames, got 99"):
        widget.set_states(np.zeros(99, dtype=np.uint8), {})
    assert pixel(widget, 200) == STATE_COLOURS[S.DONE]


def test_markers_selection_and_playhead_are_drawn(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_states(np.full(100, S.DONE, dtype=np.uint8), {})
    widget.set_markers([50], [(70, 90)])
    widget.set_selection(20, 30)
    widget.set_current_frame(10)
    image = widget.grab().toImage()
    done = STATE_COLOURS[S.DONE]
    # Keyframe diamond above frame 50, nothing above frame 40.
    assert image.pixelColor(50 * 4 + 2, 27).lightness() > 200
    assert image.pixelColor(40 * 4 + 2, 27).lightness() < 60
    # Mask bar above frames 70..90 only.
    assert image.pixelColor(80 * 4, 34).name() == "#b38cff"
    assert image.pixelColor(95 * 4, 34).name() != "#b38cff"
    # The selection lightens the cells it covers; the playhead is a white line.
    assert image.pixelColor(25 * 4 + 2, 58).lightness() > done.lightness() + 15
    assert image.pixelColor(35 * 4 + 2, 58) == done
    assert image.pixelColor(10 * 4 + 2, 58) == QColor("white")


def test_cuts_are_lines_at_the_start_of_their_frame(qtbot):
    widget = timeline(qtbot, 100, 400)  # 4 px per frame
    widget.set_states(np.full(100, S.DONE, dtype=np.uint8), {})
    widget.set_current_frame(99)
    widget.set_markers([], [], cuts=[30, 75])
    image = widget.grab().toImage()
    cut, done = QColor("#f0e442"), STATE_COLOURS[S.DONE]
    for frame in (30, 75):
        x = frame * 4  # frame 30 starts at x = 120
        assert image.pixelColor(x - 1, ROW_Y) == cut and image.pixelColor(x, ROW_Y) == cut
        assert image.pixelColor(x - 1, 24) == cut  # down from the markers row
        assert image.pixelColor(x + 2, ROW_Y) == done and image.pixelColor(x - 3, ROW_Y) == done
    assert sum(image.pixelColor(x, ROW_Y) == cut for x in range(400)) == 4  # nothing else
    widget.set_markers([], [], cuts=[])
    assert pixel(widget, 120, ROW_Y) == done


def test_tracked_masks_are_drawn_apart_from_held_ones(qtbot):
    widget = timeline(qtbot, 100, 400)
    held, tracked = QColor("#b38cff"), QColor("#56b4e9")
    # Held on 10..20; tracked: painted on 60, carried back to 50 and on to 80.
    widget.set_markers([], [(10, 20), MaskMarker(60, 80, 50, True)])
    image = widget.grab().toImage()
    bar_y = 34
    assert image.pixelColor(15 * 4, bar_y) == held
    assert image.pixelColor(52 * 4, bar_y) == tracked  # before the painted frame
    assert image.pixelColor(75 * 4, bar_y) == tracked
    assert image.pixelColor(45 * 4, bar_y) != tracked and image.pixelColor(85 * 4, bar_y) != tracked
    assert image.pixelColor(50 * 4, bar_y - 3) == tracked  # the bracket's cap at its start
    assert image.pixelColor(55 * 4, bar_y - 3) != tracked  # none in between
    assert image.pixelColor(60 * 4, bar_y - 6) == tracked  # the tab where it was painted
    assert "tracked over frames 50–80" in tooltip(widget, 52 * 4 + 2)
    assert "Clear mask (frames 50–80)" in right_click_menu(widget, 52 * 4 + 2)
    with qtbot.waitSignal(widget.clearMaskRequested) as signal:
        right_click_menu(widget, 52 * 4 + 2, choose="Clear mask")
    assert signal.args == [60]  # the frame it was painted on


def test_empty_timeline_paints_and_ignores_the_mouse(qtbot):
    widget = timeline(qtbot, 0, 400)
    widget.grab()
    assert widget.frame_at(100) == -1
    with qtbot.assertNotEmitted(widget.currentFrameChanged):
        mouse(widget, "press", 100)
        mouse(widget, "release", 100)


# --- scrubbing and selecting ---------------------------------------------------------------


def test_click_emits_the_frame_under_the_mouse(qtbot):
    widget = timeline(qtbot, 100, 400)
    with qtbot.waitSignal(widget.currentFrameChanged) as signal:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(42, ROW_Y))
    assert signal.args == [10]
    assert widget.current_frame() == 10


def test_drag_scrubs_through_frames_and_stops_at_the_edges(qtbot):
    widget = timeline(qtbot, 100, 400)
    emitted = []
    widget.currentFrameChanged.connect(emitted.append)
    mouse(widget, "press", 42)
    mouse(widget, "move", 82)
    mouse(widget, "move", 83)  # same frame: no repeat
    mouse(widget, "move", 5000)
    mouse(widget, "release", 5000)
    assert emitted == [10, 20, 99]
    assert widget.selection() is None


def test_shift_drag_selects_a_range_either_way(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_states(np.full(100, S.DONE, dtype=np.uint8), {})
    selections, scrubs = [], []
    widget.selectionChanged.connect(lambda a, b: selections.append((a, b)))
    widget.currentFrameChanged.connect(scrubs.append)
    shift = Qt.KeyboardModifier.ShiftModifier
    mouse(widget, "press", 122, modifiers=shift)
    mouse(widget, "move", 82, modifiers=shift)
    mouse(widget, "move", 42, modifiers=shift)
    mouse(widget, "release", 42, modifiers=shift)
    assert selections[-1] == (10, 30)
    assert widget.selection() == (10, 30)
    assert scrubs == []
    # Drawn as a band over frames 10..30 only.
    inside, outside = pixel(widget, 20 * 4), pixel(widget, 40 * 4)
    assert outside == STATE_COLOURS[S.DONE]
    assert inside.lightness() > outside.lightness() + 15


def test_set_current_frame_scrolls_the_playhead_into_view_without_emitting(qtbot):
    widget = timeline(qtbot, 1000, 400)
    widget.set_pixels_per_frame(8)  # 50 frames in view
    assert widget.frame_at(0) == 0
    with qtbot.assertNotEmitted(widget.currentFrameChanged):
        widget.set_current_frame(900)
    assert widget.frame_at(0) <= 900 <= widget.frame_at(399)
    assert widget.current_frame() == 900


# --- context menu --------------------------------------------------------------------------


def test_menu_adds_a_keyframe_and_renders_the_frame_clicked(qtbot):
    widget = timeline(qtbot, 100, 400)
    assert right_click_menu(widget, 42) == [
        "Add keyframe here", "Render frame 10", "Cut here (a new shot starts at this frame)",
        "Add keyframes automatically…",
    ]
    with qtbot.waitSignal(widget.addKeyframeRequested) as signal:
        right_click_menu(widget, 42, choose="Add keyframe here")
    assert signal.args == [10]
    with qtbot.waitSignal(widget.renderRangeRequested) as signal:
        right_click_menu(widget, 42, choose="Render frame")
    assert signal.args == [10, 10]


def test_menu_removes_the_keyframe_under_the_mouse(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_markers([10, 60], [])
    entries = right_click_menu(widget, 42)
    assert entries[0] == "Remove keyframe at frame 10"
    assert right_click_menu(widget, 46)[0] == "Add keyframe here"  # frame 11
    with qtbot.waitSignal(widget.removeKeyframeRequested) as signal:
        right_click_menu(widget, 42, choose="Remove keyframe")
    assert signal.args == [10]


def test_menu_hits_a_keyframe_diamond_when_frames_are_narrower_than_a_pixel(qtbot):
    widget = timeline(qtbot, 100_000, 1000)  # 100 frames per pixel
    widget.set_markers([50_050], [])  # drawn at x = 500
    assert right_click_menu(widget, 503)[0] == "Remove keyframe at frame 50050"
    assert right_click_menu(widget, 520)[0] == "Add keyframe here"


def test_menu_renders_the_selection_when_clicked_inside_it(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_selection(5, 20)
    assert "Render frames 5–20" in right_click_menu(widget, 42)
    assert "Render frame 30" in right_click_menu(widget, 122)
    with qtbot.waitSignal(widget.renderRangeRequested) as signal:
        right_click_menu(widget, 42, choose="Render frames")
    assert signal.args == [5, 20]


def test_menu_clears_the_selection(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_selection(5, 20)
    with qtbot.waitSignal(widget.selectionChanged) as signal:
        right_click_menu(widget, 200, choose="Clear selection")
    assert signal.args == [-1, -1]
    assert widget.selection() is None
    assert "Clear selection" not in right_click_menu(widget, 200)


def test_menu_marks_and_removes_a_cut(qtbot):
    widget = timeline(qtbot, 100, 400)
    with qtbot.waitSignal(widget.cutRequested) as signal:
        right_click_menu(widget, 42, choose="Cut here")
    assert signal.args == [10, True]
    assert not any(e.startswith("Cut here") for e in right_click_menu(widget, 2))  # frame 0
    widget.set_markers([], [], cuts=[10])
    entries = right_click_menu(widget, 41)
    assert "Remove cut at frame 10" in entries and "Cut here" not in " ".join(entries)
    with qtbot.waitSignal(widget.cutRequested) as signal:
        right_click_menu(widget, 38, choose="Remove cut")  # on the line, in frame 9
    assert signal.args == [10, False]
    with qtbot.waitSignal(widget.autoKeyframesRequested):
        right_click_menu(widget, 200, choose="Add keyframes automatically")


def test_menu_finds_a_cut_line_when_frames_are_narrower_than_a_pixel(qtbot):
    widget = timeline(qtbot, 100_000, 1000)  # 100 frames per pixel
    widget.set_markers([], [], cuts=[50_000])  # drawn at x = 500
    assert "Remove cut at frame 50000" in right_click_menu(widget, 502)
    assert "Remove cut at frame 50000" not in right_click_menu(widget, 520)


def test_menu_clears_the_mask_that_applies_there(qtbot):
    widget = timeline(qtbot, 100, 400)
    widget.set_markers([], [(8, 40), (5, 100), (60, 60)])
    assert "Clear mask (frames 8–40)" in right_click_menu(widget, 42)  # the later-painted one
    assert "Clear mask (frames 5–100)" in right_click_menu(widget, 202)  # frame 50
    assert not any(e.startswith("Clear mask") for e in right_click_menu(widget, 10))  # frame 2
    with qtbot.waitSignal(widget.clearMaskRequested) as signal:
        right_click_menu(widget, 242, choose="Clear mask")  # frame 60, painted there
    assert signal.args == [60]


# --- tooltips ------------------------------------------------------------------------------


def test_tooltip_shows_frame_time_and_state_or_the_error(qtbot):
    widget = timeline(qtbot, 100, 400)
    states = np.full(100, S.DONE, dtype=np.uint8)
    states[30] = S.FAILED
    widget.set_states(states, {30: "inpaint: mask is empty"})
    widget.set_markers([31], [(31, 40)])
    assert tooltip(widget, 42) == "frame 10 · 00:00.40 · done"
    failed = tooltip(widget, 122)
    assert failed.startswith("frame 30 · 00:01.20 · failed")
    assert "inpaint: mask is empty" in failed
    marked = tooltip(widget, 126)
    assert "keyframe at frame 31" in marked and "mask painted on frame 31" in marked


# --- zoom and pan --------------------------------------------------------------------------


@pytest.mark.parametrize("modifiers", [NO_KEYS, Qt.KeyboardModifier.ControlModifier])
def test_wheel_zooms_around_the_frame_under_the_mouse(qtbot, modifiers):
    widget = timeline(qtbot, 1000, 500)
    fit = widget.pixels_per_frame()
    under = widget.frame_at(300)
    wheel(widget, 300, 1, modifiers)
    assert widget.pixels_per_frame() == pytest.approx(fit * 1.25)
    assert widget.frame_at(300) == under
    wheel(widget, 300, 8, modifiers)
    assert widget.frame_at(300) == under
    assert widget.frame_at(0) > 0 and widget.frame_at(499) < 999
    wheel(widget, 300, 100, modifiers)
    assert widget.pixels_per_frame() == MAX_PIXELS_PER_FRAME
    wheel(widget, 300, -100, modifiers)
    assert widget.pixels_per_frame() == pytest.approx(fit)
    assert (widget.frame_at(0), widget.frame_at(499)) == (0, 998)  # the last pixel: 998-999


def test_shift_wheel_and_horizontal_wheel_pan(qtbot):
    widget = timeline(qtbot, 1000, 400)
    widget.set_pixels_per_frame(4)  # 100 frames in view
    assert widget.frame_at(0) == 0
    wheel(widget, 200, -1, Qt.KeyboardModifier.ShiftModifier)  # scroll down: later frames
    assert widget.frame_at(0) == 12  # an eighth of the view
    assert widget.pixels_per_frame() == 4
    wheel(widget, 200, 1, horizontal=True)
    assert widget.frame_at(0) == 0
    wheel(widget, 200, 1, horizontal=True)  # stops at the start
    assert widget.frame_at(0) == 0


def test_zoom_to_fit_follows_resizes_and_a_zoom_keeps_its_scale(qtbot):
    widget = timeline(qtbot, 1000, 500)
    widget.resize(1000, 70)
    assert widget.pixels_per_frame() == pytest.approx(1.0)
    widget.set_pixels_per_frame(4)
    widget.resize(600, 70)
    assert widget.pixels_per_frame() == 4
    widget.zoom_to_fit()
    assert widget.pixels_per_frame() == pytest.approx(0.6)
    assert widget.frame_at(599) == 998  # the last pixel holds frames 998-999


def test_size_hint_fits_ruler_markers_and_cells(qtbot):
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    assert 60 <= widget.sizeHint().height() <= 80


# --- ruler ---------------------------------------------------------------------------------


def width_of(text: str) -> float:
    return 7.0 * len(text)  # a generous monospace estimate


@pytest.mark.parametrize("ppf", [0.004, 0.016, 0.1, 0.5, 1, 2, 4, 8, 16, 32])
def test_ruler_labels_never_overlap(ppf):
    count, fps = 100_000, Fraction(30000, 1001)
    first = 40_000.0
    ticks = ruler_ticks(first, first + 1600 / ppf, ppf, count, fps, width_of)
    assert ticks.labels
    xs = [(p - first) * ppf for p in ticks.major]
    for (x, label), next_x in zip(zip(xs, ticks.labels, strict=True), xs[1:], strict=False):
        assert x + 3 + width_of(label) < next_x


def test_ruler_shows_time_when_zoomed_out_and_frame_numbers_when_zoomed_in():
    fps = Fraction(25)
    out = ruler_ticks(0, 100_000, 0.016, 100_000, fps, width_of)
    assert out.labels[:2] == ["0:00:00", "0:05:00"]  # 4,000 s: an hour or more
    long = ruler_ticks(0, 100_000, 0.016, 100_000, Fraction(1, 1), width_of)  # 27 h
    assert long.labels[1].count(":") == 2
    near = ruler_ticks(1000, 1100, 16, 100_000, fps, width_of)
    assert near.labels[:3] == ["1000", "1005", "1010"]
    assert all(1000 <= p <= 1100 for p in near.minor)
