import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from sdhd_studio.gui.preview import CompareMode, PreviewWidget

RED = (200, 30, 30)
BLUE = (30, 60, 220)


def flat(width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def gradient(width: int, height: int) -> np.ndarray:
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return np.dstack([x, y, 255 - x]).astype(np.uint8)


def pixels(widget: PreviewWidget) -> np.ndarray:
    """What the widget shows, as an HxWx3 RGB array."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def near(colour, expected, tolerance=12) -> bool:
    return bool(np.all(np.abs(np.asarray(colour, int) - expected) <= tolerance))


@pytest.fixture
def preview(qtbot):
    widget = PreviewWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def red_blue(preview):
    """A red 320x180 source and its blue 1280x720 result, fitted into 400x300: the picture
    spans y 37.5..262.5."""
    preview.set_output_size(1280, 720)
    preview.set_frame(flat(320, 180, RED), flat(1280, 720, BLUE), result_is_preview=False)
    return preview


def drag(qtbot, widget, points, button=Qt.MouseButton.LeftButton):
    qtbot.mousePress(widget, button, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(widget, point)
    qtbot.mouseRelease(widget, button, pos=points[-1])


def wheel(widget, pos: QPoint, notches: float) -> None:
    event = QWheelEvent(
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_split_shows_the_source_left_of_the_divider_and_the_result_right(red_blue):
    red_blue.set_mode(CompareMode.SPLIT)
    shown = pixels(red_blue)
    assert near(shown[100, 100], RED) and near(shown[100, 194], RED)  # clear of the knob
    assert near(shown[100, 206], BLUE) and near(shown[100, 300], BLUE)
    red_blue.set_split(0.25)
    shown = pixels(red_blue)
    assert near(shown[150, 80], RED) and near(shown[150, 150], BLUE)


def test_dragging_the_divider_moves_it(qtbot, red_blue):
    red_blue.set_mode(CompareMode.SPLIT)
    drag(qtbot, red_blue, [QPoint(200, 100), QPoint(260, 100), QPoint(320, 100)])
    shown = pixels(red_blue)
    assert near(shown[200, 300], RED) and near(shown[200, 340], BLUE)


def test_side_by_side_shows_both_pictures_in_their_own_pane(red_blue):
    red_blue.set_mode(CompareMode.SIDE_BY_SIDE)
    shown = pixels(red_blue)
    assert near(shown[150, 100], RED) and near(shown[150, 300], BLUE)
    assert not near(shown[150, 200], RED) and not near(shown[150, 200], BLUE)  # the gap


@pytest.mark.parametrize("mode", [CompareMode.RESULT, CompareMode.SPLIT])
def test_an_unrendered_result_is_clearly_labelled_as_a_preview(red_blue, mode):
    red_blue.set_mode(mode)
    source, result = flat(320, 180, RED), flat(1280, 720, BLUE)
    red_blue.set_frame(source, result, result_is_preview=False, label="Lanczos")
    rendered = pixels(red_blue)
    red_blue.set_frame(source, result, result_is_preview=True, label="Lanczos")
    preview = pixels(red_blue)

    def amber(image):  # the preview label's text colour
        return int(((image[..., 0] > 200) & (image[..., 1] > 150) & (image[..., 2] < 120)).sum())

    assert amber(preview) > 100 and amber(rendered) == 0
    changed = np.nonzero(np.any(preview != rendered, axis=2))
    assert changed[0].min() > 150  # at the bottom of the picture
    if mode is CompareMode.SPLIT:
        assert changed[1].min() > 200  # on the result's side only


def test_the_frame_caption_sits_in_the_bottom_left_corner(red_blue):
    source, result = flat(320, 180, RED), flat(1280, 720, BLUE)
    bare = pixels(red_blue)
    red_blue.set_frame(source, result, result_is_preview=False, label="frame 12")
    rows, columns = np.nonzero(np.any(pixels(red_blue) != bare, axis=2))
    assert len(rows) > 50
    assert rows.min() > 200 and rows.max() < 262 and columns.max() < 120


def test_zoom_and_pan_are_kept_when_switching_modes(qtbot, preview):
    source = gradient(320, 180)
    preview.set_output_size(1280, 720)
    preview.set_frame(source, cv2.resize(source, (1280, 720)), result_is_preview=False)
    preview.set_mode(CompareMode.SOURCE)
    with qtbot.waitSignal(preview.zoomChanged) as zoomed:
        preview.set_zoom(2.0)
    assert zoomed.args == [2.0]
    drag(qtbot, preview, [QPoint(300, 200), QPoint(200, 150)], Qt.MouseButton.MiddleButton)
    before = pixels(preview)
    preview.set_mode(CompareMode.RESULT)
    # Same zoom and pan: the result shows the same part of the picture at the same place.
    assert preview.zoom() == 2.0
    assert near(pixels(preview)[160, 100], before[160, 100], tolerance=6)
    for mode in (CompareMode.SPLIT, CompareMode.SIDE_BY_SIDE, CompareMode.SOURCE):
        preview.set_mode(mode)
    assert preview.zoom() == 2.0
    assert (pixels(preview) == before).all()


def test_the_wheel_zooms_around_the_cursor_and_double_click_toggles_fit(qtbot, preview):
    source = np.zeros((180, 320, 3), np.uint8)
    source[60:70, 230:240] = 255  # a white square right of centre
    preview.set_output_size(320, 180)
    preview.set_frame(source, cv2.resize(source, (320, 180)), result_is_preview=False)
    preview.set_mode(CompareMode.SOURCE)
    # Fit: 400/320 = 1.25, the picture spans y 37.5..262.5, the square's centre is at (293, 119).
    spot = QPoint(293, 119)

    def white(image):  # the square's area, away from the "Source" tag
        return int((image[60:, 100:].min(axis=2) > 200).sum())

    before = pixels(preview)
    assert before[119, 293].min() > 200
    with qtbot.waitSignal(preview.zoomChanged) as zoomed:
        wheel(preview, spot, 3)
    assert zoomed.args[0] == pytest.approx(1.25 * 1.25**3)
    shown = pixels(preview)
    assert shown[119, 293].min() > 200  # still under the cursor
    assert white(shown) == pytest.approx(white(before) * 1.25**6, rel=0.15)  # and bigger
    wheel(preview, spot, -10)
    assert preview.zoom() is None  # zooming out lands on fit
    qtbot.mouseDClick(preview, Qt.MouseButton.LeftButton, pos=spot)
    assert preview.zoom() == 1.0
    qtbot.mouseDClick(preview, Qt.MouseButton.LeftButton, pos=spot)
    assert preview.zoom() is None


def test_pixels_stay_crisp_when_zoomed_in(preview):
    checker = (np.indices((90, 160)).sum(axis=0) % 2 * 255).astype(np.uint8)
    source = np.dstack([checker] * 3)
    preview.set_output_size(160, 90)
    preview.set_frame(source, source.copy(), result_is_preview=False)
    preview.set_mode(CompareMode.SOURCE)
    preview.set_zoom(4.0)
    middle = pixels(preview)[60:240, 40:360]
    assert set(np.unique(middle)) == {0, 255}
    # Each source pixel is a 4x4 block.
    rows = middle[:, 100, 0]
    runs = np.diff(np.nonzero(np.diff(rows.astype(int)))[0])
    assert set(runs.tolist()) == {4}


def test_a_brush_drag_paints_the_mask_where_the_mouse_went(qtbot, preview):
    preview.resize(640, 360)
    preview.set_frame(flat(640, 360, RED), flat(640, 360, BLUE), result_is_preview=True)
    preview.set_mode(CompareMode.SPLIT)
    preview.set_tool("brush", size=20, hardness=1.0)
    with qtbot.waitSignal(preview.strokeFinished) as finished:
        drag(qtbot, preview, [QPoint(100, 100), QPoint(200, 100), QPoint(500, 100)])
    mask = finished.args[0]
    assert mask.shape == (360, 640) and set(np.unique(mask)) == {0, 255}
    assert mask[100, 100:501].all()  # across the divider too: both halves are pictures
    assert mask[91:110, 300].all() and not mask[112:, :].any() and not mask[:88, :].any()
    assert not mask[:, :88].any() and not mask[:, 512:].any()


def test_painting_maps_to_source_pixels_when_they_are_not_square(qtbot, preview):
    # A 720x480 DV source shown as 960x720, fitted at half size into 480x360: one widget
    # pixel is 1.5 source pixels across and 1.333 down.
    preview.resize(480, 360)
    preview.set_output_size(960, 720)
    preview.set_frame(flat(720, 480, RED), flat(960, 720, BLUE), result_is_preview=False)
    preview.set_mode(CompareMode.SOURCE)
    preview.set_tool("brush", size=20, hardness=1.0)
    with qtbot.waitSignal(preview.strokeFinished) as finished:
        drag(qtbot, preview, [QPoint(120, 90), QPoint(240, 90), QPoint(360, 90)])
    mask = finished.args[0]
    assert mask.shape == (480, 720)
    ys, xs = np.nonzero(mask)
    # Widget x 120..360 is source x 180..540, widget y 90 is source y 120; the brush is 20
    # source pixels across.
    assert xs.min() == pytest.approx(180 - 10, abs=1.5) and xs.max() == pytest.approx(
        540 + 10, abs=1.5
    )
    assert ys.min() == pytest.approx(120 - 10, abs=1.5) and ys.max() == pytest.approx(
        120 + 10, abs=1.5
    )


def test_painting_in_the_result_pane_lands_on_the_same_source_pixels(qtbot, red_blue):
    red_blue.set_mode(CompareMode.SIDE_BY_SIDE)
    red_blue.set_tool("brush", size=10, hardness=1.0)
    # Each pane is 198 wide and fits the 16:9 picture at y 94.3..205.7; the right pane starts
    # at x 202. Its centre is the picture's centre, source pixel (160, 90).
    with qtbot.waitSignal(red_blue.strokeFinished) as finished:
        drag(qtbot, red_blue, [QPoint(301, 150), QPoint(301, 150)])
    ys, xs = np.nonzero(finished.args[0])
    assert abs(xs.mean() - 160) < 2 and abs(ys.mean() - 90) < 2


def test_the_mask_shows_in_red_on_every_pane_and_live_while_painting(qtbot, red_blue):
    grey = flat(320, 180, (128, 128, 128))
    red_blue.set_frame(grey, flat(1280, 720, (128, 128, 128)), result_is_preview=False)
    mask = np.zeros((180, 320), np.uint8)
    mask[:, :160] = 255  # the left half of the picture
    red_blue.set_mask(mask)
    red_blue.set_mode(CompareMode.SIDE_BY_SIDE)
    shown = pixels(red_blue).astype(int)
    for masked_x, clear_x in ((50, 150), (250, 350)):  # the left and the right pane
        tinted, plain = shown[150, masked_x], shown[150, clear_x]
        assert tinted[0] > plain[0] + 30 and tinted[2] < plain[2] - 30
    red_blue.set_mode(CompareMode.SOURCE)
    red_blue.set_tool("brush", size=20, hardness=1.0)
    qtbot.mousePress(red_blue, Qt.MouseButton.LeftButton, pos=QPoint(300, 100))
    qtbot.mouseMove(red_blue, QPoint(300, 200))
    during = pixels(red_blue).astype(int)  # before the stroke is committed
    assert during[150, 300, 0] > during[150, 250, 0] + 30
    qtbot.mouseRelease(red_blue, Qt.MouseButton.LeftButton, pos=QPoint(300, 200))
    assert (pixels(red_blue)[120:180, 290:310] == during[120:180, 290:310]).all()


def test_without_a_tool_a_left_drag_pans_and_paints_nothing(qtbot, preview):
    source = gradient(320, 180)
    preview.set_frame(source, source.copy(), result_is_preview=False)
    preview.set_mode(CompareMode.SOURCE)
    preview.set_zoom(4.0)
    before = pixels(preview)
    finished = []
    preview.strokeFinished.connect(finished.append)
    drag(qtbot, preview, [QPoint(200, 150), QPoint(150, 150), QPoint(100, 150)])
    after = pixels(preview)
    assert not finished
    assert near(after[150, 100], before[150, 200], tolerance=4)  # moved 100 px left with the drag


def test_clear_and_invert_are_undo_steps_that_report_the_mask(qtbot, red_blue):
    with qtbot.waitSignal(red_blue.strokeFinished) as inverted:
        red_blue.invert_mask()
    assert inverted.args[0].shape == (180, 320) and inverted.args[0].all()
    with qtbot.waitSignal(red_blue.strokeFinished) as cleared:
        red_blue.clear_mask()
    assert not cleared.args[0].any() and not red_blue.mask().any()


def test_with_no_frame_it_says_how_to_open_one(preview):
    shown = pixels(preview)
    text = shown.max(axis=2) > 120
    assert text[130:170, 20:380].sum() > 100  # a line of text across the middle
    assert not text[:100].any() and not text[200:].any()


def test_a_missing_result_says_so_and_cannot_be_painted_on(qtbot, preview):
    preview.set_frame(flat(320, 180, RED), None, result_is_preview=True)
    preview.set_mode(CompareMode.SIDE_BY_SIDE)
    preview.set_tool("brush")
    finished = []
    preview.strokeFinished.connect(finished.append)
    drag(qtbot, preview, [QPoint(300, 150), QPoint(320, 150)])
    assert not finished
    drag(qtbot, preview, [QPoint(100, 150), QPoint(120, 150)])
    assert len(finished) == 1


def test_bad_input_is_refused_with_a_message(preview):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        preview.set_frame(np.zeros((10, 10, 3), np.float32), None, result_is_preview=False)
    preview.set_frame(flat(32, 18, RED), None, result_is_preview=False)
    with pytest.raises(ValueError, match="source frame is"):
        preview.set_mask(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="unknown tool"):
        preview.set_tool("spray")
    with pytest.raises(ValueError, match="zoom"):
        preview.set_zoom(0)


def test_the_brush_cursor_is_a_circle_of_the_brush_size_on_screen(qtbot, red_blue):
    grey = flat(320, 180, (90, 90, 90))
    red_blue.set_frame(grey, flat(1280, 720, (90, 90, 90)), result_is_preview=False)
    red_blue.set_mode(CompareMode.SOURCE)
    red_blue.set_tool("brush", size=40, hardness=1.0)
    qtbot.mouseMove(red_blue, QPoint(200, 150))
    row = pixels(red_blue)[150, 200:260].max(axis=1)
    # 40 source pixels at 1.25 screen pixels each: a ring of radius 25 around the cursor.
    assert abs(int(np.argmax(row[10:])) + 10 - 25) <= 1 and row.max() > 200
    assert (row[6:22] < 110).all()


def test_switching_mode_mid_stroke_commits_the_stroke(qtbot, red_blue):
    red_blue.set_mode(CompareMode.SOURCE)
    red_blue.set_tool("brush", size=10, hardness=1.0)
    qtbot.mousePress(red_blue, Qt.MouseButton.LeftButton, pos=QPoint(100, 150))
    qtbot.mouseMove(red_blue, QPoint(150, 150))
    with qtbot.waitSignal(red_blue.strokeFinished) as finished:
        red_blue.set_mode(CompareMode.SPLIT)
    assert finished.args[0][90, 80:120].all()  # widget x 100..150 is source x 80..120
    qtbot.mouseRelease(red_blue, Qt.MouseButton.LeftButton, pos=QPoint(150, 150))
    with qtbot.waitSignal(red_blue.strokeFinished) as again:
        drag(qtbot, red_blue, [QPoint(100, 200), QPoint(150, 200)])
    assert again.args[0][90, 80:120].all() and again.args[0][130, 80:120].all()
