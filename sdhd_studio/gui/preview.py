"""The frame preview: source and result compared four ways, zoom and pan, and mask painting.

The widget only displays what it is handed (RGB numpy frames) and edits the mask; reading
frames and storing masks happen elsewhere. Both pictures are drawn into one display rectangle
of the output's aspect, so a non-square-pixel source lines up with its HD result.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from sdhd_studio.gui.mask_brush import MaskCanvas

TOOLS = ("brush", "eraser")
MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
_WHEEL_STEP = 1.25  # zoom factor per wheel notch
_PANE_GAP = 4  # pixels between the side-by-side panes
_DIVIDER_GRAB = 6  # how near the split line (in pixels) a press picks it up
_KNOB_RADIUS = 11
_NO_FRAME_HINT = "Open a video or project (File ▸ New from video…, or drop a file here)"
_BACKGROUND = QColor(24, 24, 27)
_TAG_BOX = QColor(0, 0, 0, 170)
_PREVIEW_TEXT = QColor(255, 196, 64)
_RENDERED_TEXT = QColor(140, 220, 150)
# The mask's colours as premultiplied ARGB32 words: 128 steps of coverage (level // 2; red, 45 %
# opaque where fully masked), then at index 128 the firmer colour of the mask's edge line.
_MASK_LUT = np.array(
    [
        (round(a) << 24) | (round(a * 235 / 255) << 16) | (round(a * 40 / 255) * 0x101)
        for a in [step * 2 * 0.45 for step in range(128)] + [255 * 0.85]
    ],
    dtype=np.uint32,
)
_EDGE_INDEX = 128


class CompareMode(enum.Enum):
    SOURCE = "source"
    RESULT = "result"
    SPLIT = "split"
    SIDE_BY_SIDE = "side_by_side"


@dataclass(frozen=True)
class _Pane:
    """A part of the widget showing the picture: `view` is where the whole image is drawn."""

    index: int
    rect: QRectF
    view: QRectF


@dataclass(frozen=True)
class _Drag:
    """What a held mouse button is doing: "pan", "split" (the divider) or "paint"."""

    kind: str
    pane: _Pane
    button: Qt.MouseButton
    start: QPointF | None = None  # pan: where it began, and the centre then
    center: tuple[float, float] = (0.5, 0.5)


@dataclass(frozen=True)
class _Crop:
    """The part of an image a pane shows (image pixels x0..x1, y0..y1) and the size in device
    pixels it is scaled to."""

    x0: int
    y0: int
    x1: int
    y1: int
    width: int
    height: int
    ratio: float

    @property
    def interpolation(self) -> int:
        magnify = self.width / (self.x1 - self.x0)
        if magnify >= 2:
            return cv2.INTER_NEAREST_EXACT  # individual pixels stay crisp for inspection
        return cv2.INTER_LINEAR if magnify > 1 else cv2.INTER_AREA

    def scaled(self, image: np.ndarray) -> np.ndarray:
        crop = image[self.y0 : self.y1, self.x0 : self.x1]
        return cv2.resize(crop, (self.width, self.height), interpolation=self.interpolation)


def _crop(
    image_size: tuple[int, int], view: QRectF, visible: QRectF, ratio: float
) -> tuple[_Crop, QPointF] | None:
    """The image pixels that cover `visible` (screen) when the image fills `view`, and where
    the crop's top-left corner lands. Only this crop is scaled, so a deep zoom never builds a
    giant picture."""
    if visible.isEmpty():
        return None
    image_w, image_h = image_size
    fx, fy = image_w / view.width(), image_h / view.height()  # image px per screen px
    x0 = max(0, math.floor((visible.left() - view.left()) * fx))
    y0 = max(0, math.floor((visible.top() - view.top()) * fy))
    x1 = min(image_w, math.ceil((visible.right() - view.left()) * fx))
    y1 = min(image_h, math.ceil((visible.bottom() - view.top()) * fy))
    if x0 >= x1 or y0 >= y1:
        return None
    width = max(1, round((x1 - x0) / fx * ratio))
    height = max(1, round((y1 - y0) / fy * ratio))
    at = QPointF(view.left() + x0 / fx, view.top() + y0 / fy)
    return _Crop(x0, y0, x1, y1, width, height, ratio), at


class _MaskOverlay:
    """One pane's mask scaled and coloured for the screen. A brush dab recolours only the
    screen pixels it reached, so painting stays quick on a large window."""

    def __init__(self, mask: np.ndarray, crop: _Crop) -> None:
        self.crop = crop
        self.pixels = _mask_colours(crop.scaled(mask))
        # The QImage shares `pixels`, so patching the array updates what is drawn.
        self.image = QImage(
            self.pixels.data,
            crop.width,
            crop.height,
            crop.width * 4,
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        self.image.setDevicePixelRatio(crop.ratio)

    def patch(self, mask: np.ndarray, box: tuple[int, int, int, int]) -> None:
        """Recolour the screen pixels that the mask pixels in box (x0, y0, x1, y1) reach."""
        crop = self.crop
        sx = (crop.x1 - crop.x0) / crop.width  # mask px per device px
        sy = (crop.y1 - crop.y0) / crop.height
        # Device pixel u samples the mask at crop.x0 + (u + 0.5) * sx - 0.5; a margin covers
        # the interpolation's reach and the edge line's neighbours.
        u0 = max(0, math.floor((box[0] - crop.x0 - 0.5) / sx - 0.5) - 2)
        v0 = max(0, math.floor((box[1] - crop.y0 - 0.5) / sy - 0.5) - 2)
        u1 = min(crop.width, math.ceil((box[2] - crop.x0 + 1.5) / sx - 0.5) + 3)
        v1 = min(crop.height, math.ceil((box[3] - crop.y0 + 1.5) / sy - 0.5) + 3)
        if u0 >= u1 or v0 >= v1:
            return
        # Levels one pixel wider than written, so the edge line sees its neighbours. The warp
        # samples where the full resize does, bar INTER_AREA's averaging when zoomed out (the
        # rebuild after the stroke restores that).
        wu0, wv0 = max(0, u0 - 1), max(0, v0 - 1)
        wu1, wv1 = min(crop.width, u1 + 1), min(crop.height, v1 + 1)
        first_x = crop.x0 + (wu0 + 0.5) * sx - 0.5
        first_y = crop.y0 + (wv0 + 0.5) * sy - 0.5
        cx0 = max(crop.x0, math.floor(first_x) - 1)
        cy0 = max(crop.y0, math.floor(first_y) - 1)
        cx1 = min(crop.x1, math.ceil(crop.x0 + (wu1 - 0.5) * sx - 0.5) + 2)
        cy1 = min(crop.y1, math.ceil(crop.y0 + (wv1 - 0.5) * sy - 0.5) + 2)
        matrix = np.array([[sx, 0.0, first_x - cx0], [0.0, sy, first_y - cy0]])
        nearest = crop.interpolation == cv2.INTER_NEAREST_EXACT
        level = cv2.warpAffine(
            np.ascontiguousarray(mask[cy0:cy1, cx0:cx1]),
            matrix,
            (wu1 - wu0, wv1 - wv0),
            flags=(cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        colours = _mask_colours(level)
        self.pixels[v0:v1, u0:u1] = colours[v0 - wv0 : v1 - wv0, u0 - wu0 : u1 - wu0]


def _mask_colours(level: np.ndarray) -> np.ndarray:
    """Premultiplied ARGB32 of a scaled mask: translucent red with a firmer line along the
    inside of its edge, so the outline stays readable over red or busy pictures."""
    inside = cv2.threshold(level, 127, _EDGE_INDEX, cv2.THRESH_BINARY)[1]
    edge = cv2.subtract(inside, cv2.erode(inside, np.ones((3, 3), np.uint8)))
    return np.take(_MASK_LUT, cv2.max(level >> 1, edge))


class PreviewWidget(QWidget):
    """Shows the source and the result of one frame and lets the user paint its mask."""

    strokeFinished = Signal(object)  # HxW uint8 mask at source size, after a stroke/clear/invert
    zoomChanged = Signal(float)  # 0 means "fit"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self._source: np.ndarray | None = None
        self._result: np.ndarray | None = None
        self._result_is_preview = False
        self._label = ""
        self._frame_version = 0
        self._output_size: tuple[int, int] | None = None
        self._mode = CompareMode.SPLIT
        self._zoom: float | None = None
        self._center = (0.5, 0.5)  # the image point (fractions of its size) at a pane's centre
        self._split = 0.5
        self._canvas: MaskCanvas | None = None
        self._overlays: dict[int, _MaskOverlay] = {}  # by pane; brush dabs patch them
        self._tool: str | None = None
        self._brush_size = 20.0
        self._brush_hardness = 0.8
        self._mouse: QPointF | None = None
        self._drag: _Drag | None = None
        self._pixmaps: dict[str, tuple[tuple, QPixmap]] = {}

    # ---- what is shown -------------------------------------------------------------------

    def set_frame(
        self,
        source: np.ndarray | None,
        result: np.ndarray | None,
        result_is_preview: bool,
        label: str = "",
    ) -> None:
        """Show a frame: RGB uint8 `source` at source size, `result` at output size.

        `result_is_preview` marks a fast stand-in for a frame not rendered yet, which is then
        labelled as such; `label` is a caption for the frame (e.g. "frame 12"), shown in the
        bottom-left corner.
        """
        for name, image in (("source", source), ("result", result)):
            if image is not None and (
                not isinstance(image, np.ndarray)
                or image.dtype != np.uint8
                or image.ndim != 3
                or image.shape[2] != 3
            ):
                shape = getattr(image, "shape", type(image).__name__)
                raise ValueError(f"the {name} frame must be an HxWx3 uint8 RGB array, not {shape}")
        self._source, self._result = source, result
        self._result_is_preview = bool(result_is_preview)
        self._label = label
        self._frame_version += 1
        if source is not None:
            height, width = source.shape[:2]
            if self._canvas is None or (self._canvas.width, self._canvas.height) != (width, height):
                self._set_canvas(MaskCanvas(width, height))
        self.update()

    def set_output_size(self, width: int, height: int) -> None:
        """The result's size, which sets the display aspect; a new size starts at fit."""
        if width < 1 or height < 1:
            raise ValueError(f"output size must be positive, not {width}x{height}")
        if self._output_size == (width, height):
            return
        self._output_size = (int(width), int(height))
        self._center = (0.5, 0.5)
        self.set_zoom(None)
        self.update()

    def set_mode(self, mode: CompareMode) -> None:
        self._end_drag()
        self._mode = CompareMode(mode)
        self.update()

    def mode(self) -> CompareMode:
        return self._mode

    def set_zoom(self, zoom: float | None) -> None:
        """None fits the picture; 1.0 shows one output pixel per screen pixel, 2.0 twice that."""
        if zoom is not None:
            if not zoom > 0:
                raise ValueError(f"zoom must be positive, not {zoom}")
            zoom = min(max(float(zoom), MIN_ZOOM), MAX_ZOOM)
        if zoom == self._zoom:
            return
        self._zoom = zoom
        self.zoomChanged.emit(0.0 if zoom is None else zoom)
        self.update()

    def zoom(self) -> float | None:
        return self._zoom

    def set_split(self, fraction: float) -> None:
        """Where the split divider stands, from 0 (left edge) to 1 (right edge)."""
        self._split = min(max(float(fraction), 0.0), 1.0)
        self.update()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """The mask to show and edit, HxW uint8 at source size (None: nothing masked)."""
        if mask is None:
            canvas = None
            if self._source is not None:
                canvas = MaskCanvas(self._source.shape[1], self._source.shape[0])
        else:
            if self._source is not None and mask.shape != self._source.shape[:2]:
                raise ValueError(
                    f"mask is {mask.shape[1::-1]} but the source frame is "
                    f"{self._source.shape[1::-1]} (width, height)"
                )
            if mask.ndim != 2:
                raise ValueError(f"a mask must be a HxW array, not shape {mask.shape}")
            canvas = MaskCanvas(mask.shape[1], mask.shape[0], mask)
        self._set_canvas(canvas)
        self.update()

    def mask(self) -> np.ndarray | None:
        """The current mask (HxW uint8, source size), or None before a source frame is shown."""
        return None if self._canvas is None else self._canvas.mask.copy()

    def set_tool(self, tool: str | None, size: float = 20, hardness: float = 0.8) -> None:
        """Pick the tool: "brush" or "eraser" paint the mask; None lets a left drag pan or move
        the split divider.

        `size` is the brush diameter in source pixels, `hardness` 0..1 (1 = hard edge).
        """
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; use one of {', '.join(TOOLS)} or None")
        if not size > 0:
            raise ValueError(f"brush size must be positive, not {size}")
        if not 0.0 <= hardness <= 1.0:
            raise ValueError(f"brush hardness must be between 0 and 1, not {hardness}")
        self._tool, self._brush_size, self._brush_hardness = tool, float(size), float(hardness)
        self._update_cursor()
        self.update()

    def clear_mask(self) -> None:
        if self._canvas is not None:
            self._emit_mask(self._canvas.clear())

    def invert_mask(self) -> None:
        if self._canvas is not None:
            self._emit_mask(self._canvas.invert())

    # ---- geometry ------------------------------------------------------------------------

    def _display_size(self) -> tuple[int, int] | None:
        if self._output_size is not None:
            return self._output_size
        for image in (self._result, self._source):
            if image is not None:
                return image.shape[1], image.shape[0]
        return None

    def _pane_rects(self) -> list[QRectF]:
        area = QRectF(self.rect())
        if self._mode is not CompareMode.SIDE_BY_SIDE:
            return [area]
        half = (area.width() - _PANE_GAP) / 2
        return [
            QRectF(area.left(), area.top(), half, area.height()),
            QRectF(area.right() - half, area.top(), half, area.height()),
        ]

    def _scale(self, rect: QRectF, size: tuple[int, int]) -> float:
        """Screen (logical) pixels per output pixel in a pane."""
        if self._zoom is None:
            return self._fit_scale(rect, size)
        return self._zoom / self.devicePixelRatioF()

    @staticmethod
    def _fit_scale(rect: QRectF, size: tuple[int, int]) -> float:
        return max(min(rect.width() / size[0], rect.height() / size[1]), 1e-6)

    def _clamped_center(
        self, rect: QRectF, width: float, height: float, center: tuple[float, float]
    ) -> tuple[float, float]:
        """The centre moved just enough that the picture covers the pane where it can."""

        def clamp(value: float, pane: float, image: float) -> float:
            if image <= pane:
                return 0.5
            half = pane / (2 * image)
            return min(max(value, half), 1 - half)

        return clamp(center[0], rect.width(), width), clamp(center[1], rect.height(), height)

    def _panes(self) -> list[_Pane]:
        size = self._display_size()
        if size is None:
            return []
        panes = []
        for index, rect in enumerate(self._pane_rects()):
            scale = self._scale(rect, size)
            width, height = size[0] * scale, size[1] * scale
            u, v = self._clamped_center(rect, width, height, self._center)
            view = QRectF(
                rect.center().x() - u * width, rect.center().y() - v * height, width, height
            )
            panes.append(_Pane(index, rect, view))
        return panes

    def _pane_at(self, pos: QPointF) -> _Pane | None:
        panes = self._panes()
        for pane in panes:
            if pane.rect.contains(pos):
                return pane
        return None

    def _layer_at(self, pane: _Pane, pos: QPointF) -> str:
        """Which picture ("source" or "result") the pane shows at `pos`."""
        if self._mode is CompareMode.SOURCE:
            return "source"
        if self._mode is CompareMode.RESULT:
            return "result"
        if self._mode is CompareMode.SIDE_BY_SIDE:
            return "source" if pane.index == 0 else "result"
        return "source" if pos.x() < self._divider_x(pane) else "result"

    def _divider_x(self, pane: _Pane) -> float:
        return pane.rect.left() + self._split * pane.rect.width()

    def _to_source(self, pane: _Pane, pos: QPointF) -> tuple[float, float]:
        """Widget position to source pixel coordinates (x and y scale differently when the
        source pixels are not square)."""
        height, width = self._source.shape[:2]
        return (
            (pos.x() - pane.view.left()) * width / pane.view.width(),
            (pos.y() - pane.view.top()) * height / pane.view.height(),
        )

    def _from_source(self, pane: _Pane, x: float, y: float) -> QPointF:
        height, width = self._source.shape[:2]
        return QPointF(
            pane.view.left() + x * pane.view.width() / width,
            pane.view.top() + y * pane.view.height() / height,
        )

    # ---- painting the widget ---------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()  # an open painter after an error would take the process down

    def _paint(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), _BACKGROUND)
        panes = self._panes()
        if not panes or (self._source is None and self._result is None):
            self._draw_hint(painter, QRectF(self.rect()), _NO_FRAME_HINT)
            return
        for pane in panes:
            for layer, clip in self._layer_clips(pane):
                self._draw_layer(painter, pane, layer, clip)
            self._draw_mask(painter, pane)
            self._draw_tags(painter, pane)
            if self._mode is CompareMode.SPLIT:
                self._draw_divider(painter, pane)
        if self._label:
            first = panes[0]
            _draw_tag(
                painter, self._label, first.view.intersected(first.rect), "bottom-left", small=True
            )
        self._draw_brush_cursor(painter, panes)

    def _layer_clips(self, pane: _Pane) -> list[tuple[str, QRectF]]:
        rect = pane.rect
        if self._mode is not CompareMode.SPLIT:
            return [(self._layer_at(pane, rect.center()), rect)]
        split = self._divider_x(pane)
        return [
            ("source", QRectF(rect.left(), rect.top(), split - rect.left(), rect.height())),
            ("result", QRectF(split, rect.top(), rect.right() - split, rect.height())),
        ]

    def _draw_layer(self, painter: QPainter, pane: _Pane, layer: str, clip: QRectF) -> None:
        image = self._source if layer == "source" else self._result
        visible = pane.view.intersected(clip)
        if visible.isEmpty():
            return
        painter.save()
        painter.setClipRect(visible)
        if image is None:
            painter.fillRect(visible, QColor(40, 40, 44))
            missing = "No source picture" if layer == "source" else "No result for this frame yet"
            self._draw_hint(painter, visible, missing)
        else:
            size = (image.shape[1], image.shape[0])
            placed = _crop(size, pane.view, visible, self.devicePixelRatioF())
            if placed is not None:
                crop, at = placed
                painter.drawPixmap(at, self._pixmap(f"{pane.index}:{layer}", image, crop))
        painter.restore()

    def _pixmap(self, slot: str, image: np.ndarray, crop: _Crop) -> QPixmap:
        """`image` cropped and scaled, cached so that a repaint for a moving cursor is cheap."""
        key = (self._frame_version, crop)
        cached = self._pixmaps.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        pixels = np.ascontiguousarray(crop.scaled(image))
        qimage = QImage(
            pixels.data, crop.width, crop.height, pixels.strides[0], QImage.Format.Format_RGB888
        )
        pixmap = QPixmap.fromImage(qimage)  # a copy: `pixels` may go after this
        pixmap.setDevicePixelRatio(crop.ratio)
        self._pixmaps[slot] = (key, pixmap)
        return pixmap

    def _draw_mask(self, painter: QPainter, pane: _Pane) -> None:
        if self._canvas is None or self._canvas.is_empty:
            return
        mask = self._canvas.mask
        visible = pane.view.intersected(pane.rect)
        size = (mask.shape[1], mask.shape[0])
        placed = _crop(size, pane.view, visible, self.devicePixelRatioF())
        if placed is None:
            return
        crop, at = placed
        overlay = self._overlays.get(pane.index)
        if overlay is None or overlay.crop != crop:
            overlay = self._overlays[pane.index] = _MaskOverlay(mask, crop)
        painter.save()
        painter.setClipRect(visible)
        painter.drawImage(at, overlay.image)
        painter.restore()

    def _draw_tags(self, painter: QPainter, pane: _Pane) -> None:
        visible = pane.view.intersected(pane.rect)
        if visible.isEmpty():
            return
        result_area = None
        if self._mode is CompareMode.SPLIT:
            split = self._divider_x(pane)
            left = QRectF(visible.left(), visible.top(), split - visible.left(), visible.height())
            right = QRectF(split, visible.top(), visible.right() - split, visible.height())
            left, right = left.intersected(visible), right.intersected(visible)
            _draw_tag(painter, "Source", left, "top-left", small=True)
            _draw_tag(painter, "Result", right, "top-right", small=True)
            result_area = right
        else:
            layer = self._layer_at(pane, pane.rect.center())
            _draw_tag(painter, layer.capitalize(), visible, "top-left", small=True)
            if layer == "result":
                result_area = visible
        if result_area is None or result_area.isEmpty() or self._result is None:
            return
        if self._result_is_preview:
            _draw_tag(
                painter,
                "PREVIEW — not rendered (quick upscale)",
                result_area,
                "bottom",
                color=_PREVIEW_TEXT,
            )
        else:
            _draw_tag(
                painter,
                "Rendered",
                result_area,
                "bottom",
                color=_RENDERED_TEXT,
                small=True,
            )

    def _draw_divider(self, painter: QPainter, pane: _Pane) -> None:
        x = self._divider_x(pane)
        visible = pane.view.intersected(pane.rect)
        top, bottom = visible.top(), visible.bottom()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(0, 0, 0, 140), 4))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        painter.setPen(QPen(QColor(240, 240, 240), 2))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        knob = self._knob_center(pane)
        painter.setBrush(QColor(240, 240, 240))
        painter.setPen(QPen(QColor(0, 0, 0, 160), 1.5))
        painter.drawEllipse(knob, _KNOB_RADIUS, _KNOB_RADIUS)
        painter.setBrush(QColor(40, 40, 44))
        painter.setPen(Qt.PenStyle.NoPen)
        for direction in (-1, 1):  # two small arrows: the handle moves sideways
            tip = knob.x() + direction * 7
            path = QPainterPath(QPointF(tip, knob.y()))
            path.lineTo(tip - direction * 4, knob.y() - 4)
            path.lineTo(tip - direction * 4, knob.y() + 4)
            path.closeSubpath()
            painter.drawPath(path)
        painter.restore()

    def _knob_center(self, pane: _Pane) -> QPointF:
        visible = pane.view.intersected(pane.rect)
        middle = visible.center().y() if not visible.isEmpty() else pane.rect.center().y()
        return QPointF(self._divider_x(pane), middle)

    def _draw_brush_cursor(self, painter: QPainter, panes: list[_Pane]) -> None:
        if self._tool is None or self._mouse is None or self._source is None:
            return
        if self._drag is not None and self._drag.kind != "paint":
            return
        active = self._paint_pane(self._mouse)
        if active is None:
            return
        x, y = self._to_source(active, self._mouse)
        height, width = self._source.shape[:2]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pane in panes:
            center = self._from_source(pane, x, y)
            rx = self._brush_size / 2 * pane.view.width() / width
            ry = self._brush_size / 2 * pane.view.height() / height
            dashed = pane.index != active.index  # the same spot echoed in the other pane
            for pen_color, pen_width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255), 1.2)):
                pen = QPen(pen_color, pen_width)
                if dashed:
                    pen.setStyle(Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.drawEllipse(center, rx, ry)
                if self._brush_hardness < 1 and not dashed:
                    # Where a feathered stroke's committed edge will fall.
                    inner = (1 + self._brush_hardness) / 2
                    pen.setStyle(Qt.PenStyle.DotLine)
                    painter.setPen(pen)
                    painter.drawEllipse(center, rx * inner, ry * inner)
            if not dashed:  # a plus for the brush, a minus for the eraser
                painter.setPen(QPen(QColor(255, 255, 255), 1))
                painter.drawLine(center - QPointF(3, 0), center + QPointF(3, 0))
                if self._tool == "brush":
                    painter.drawLine(center - QPointF(0, 3), center + QPointF(0, 3))
        painter.restore()

    def _draw_hint(self, painter: QPainter, rect: QRectF, text: str) -> None:
        painter.save()
        font = QFont(self.font())
        font.setPixelSize(15)
        painter.setFont(font)
        painter.setPen(QColor(170, 170, 178))
        inner = rect.adjusted(24, 24, -24, -24)
        painter.drawText(inner, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
        painter.restore()

    # ---- mouse ---------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        pane = self._pane_at(pos)
        button = event.button()
        buttons = (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton)
        if pane is None or button not in buttons or self._drag is not None:
            super().mousePressEvent(event)
            return
        if button == Qt.MouseButton.MiddleButton:
            self._start_pan(pane, pos, button)
        elif self._on_divider(pane, pos):
            self._drag = _Drag("split", pane, button)
        elif self._tool is not None:
            if self._paint_pane(pos) is not None:
                self._canvas.begin_stroke(erase=self._tool == "eraser")
                self._drag = _Drag("paint", pane, button)
                self._paint_to(pane, pos)
        else:
            self._start_pan(pane, pos, button)
        self._update_cursor()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._mouse = pos
        drag = self._drag
        if drag is not None:
            pane = drag.pane
            if drag.kind == "split":
                width = pane.rect.width()
                self.set_split((pos.x() - pane.rect.left()) / width if width > 0 else 0.5)
            elif drag.kind == "paint":
                self._paint_to(self._current(pane), pos)
            else:
                start, (u, v) = drag.start, drag.center
                view = self._current(pane).view
                center = (
                    u - (pos.x() - start.x()) / view.width(),
                    v - (pos.y() - start.y()) / view.height(),
                )
                self._center = self._clamped_center(pane.rect, view.width(), view.height(), center)
                self.update()
        elif self._tool is not None:
            self.update()  # the brush cursor follows the mouse
        self._update_cursor()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and event.button() == self._drag.button:
            self._end_drag()
            self._update_cursor()
            self.update()
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # With a brush, a double click is two dabs of paint, not a zoom.
        pan_click = self._tool is None and event.button() == Qt.MouseButton.LeftButton
        if pan_click or event.button() == Qt.MouseButton.MiddleButton:
            pane = self._pane_at(event.position())
            if pane is not None and not self._on_divider(pane, event.position()):
                self._end_drag()
                self._zoom_at(pane, event.position(), 1.0 if self._zoom is None else None)
                event.accept()
                return
        self.mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        pos = event.position()
        pane = self._pane_at(pos)
        steps = event.angleDelta().y() / 120
        if pane is None or steps == 0 or self._display_size() is None:
            event.ignore()
            return
        size = self._display_size()
        ratio = self.devicePixelRatioF()
        zoom = self._scale(pane.rect, size) * ratio * _WHEEL_STEP**steps
        fit = self._fit_scale(pane.rect, size) * ratio
        # Zooming out past the whole picture lands on "fit" rather than a shrinking stamp.
        self._zoom_at(pane, pos, None if steps < 0 and zoom <= fit * 1.001 else zoom)
        event.accept()

    def leaveEvent(self, event) -> None:
        self._mouse = None
        self.update()
        super().leaveEvent(event)

    # ---- interaction helpers ---------------------------------------------------------------

    def _current(self, pane: _Pane) -> _Pane:
        """The same pane with the view as it is now (zoom or pan may have moved it)."""
        panes = self._panes()
        return panes[pane.index] if pane.index < len(panes) else pane

    def _on_divider(self, pane: _Pane, pos: QPointF) -> bool:
        if self._mode is not CompareMode.SPLIT:
            return False
        knob = self._knob_center(pane)
        if math.hypot(pos.x() - knob.x(), pos.y() - knob.y()) <= _KNOB_RADIUS + 2:
            return True
        # With a painting tool only the knob moves the divider, so strokes can cross the line.
        return self._tool is None and abs(pos.x() - self._divider_x(pane)) <= _DIVIDER_GRAB

    def _paint_pane(self, pos: QPointF | None) -> _Pane | None:
        """The pane under `pos` if a picture is shown there and the mask can be painted."""
        if pos is None or self._canvas is None or self._source is None:
            return None
        pane = self._pane_at(pos)
        if pane is None or not pane.view.contains(pos):
            return None
        layer = self._layer_at(pane, pos)
        return pane if (self._source if layer == "source" else self._result) is not None else None

    def _paint_to(self, pane: _Pane, pos: QPointF) -> None:
        x, y = self._to_source(pane, pos)
        box = self._canvas.add_point(x, y, self._brush_size, self._brush_hardness)
        if box is not None:
            for overlay in self._overlays.values():
                overlay.patch(self._canvas.mask, box)
            self.update()

    def _start_pan(self, pane: _Pane, pos: QPointF, button: Qt.MouseButton) -> None:
        size = self._display_size()
        scale = self._scale(pane.rect, size)
        center = self._clamped_center(pane.rect, size[0] * scale, size[1] * scale, self._center)
        self._drag = _Drag("pan", pane, button, pos, center)

    def _zoom_at(self, pane: _Pane, pos: QPointF, zoom: float | None) -> None:
        """Change the zoom keeping the picture point under `pos` where it is."""
        view = pane.view
        point = ((pos.x() - view.left()) / view.width(), (pos.y() - view.top()) / view.height())
        self.set_zoom(zoom)
        new = self._current(pane).view
        left = pos.x() - point[0] * new.width()
        top = pos.y() - point[1] * new.height()
        center = (
            (pane.rect.center().x() - left) / new.width(),
            (pane.rect.center().y() - top) / new.height(),
        )
        self._center = self._clamped_center(pane.rect, new.width(), new.height(), center)
        self.update()

    def _update_cursor(self) -> None:
        pos = self._mouse
        drag = self._drag.kind if self._drag is not None else None
        pane = self._pane_at(pos) if pos is not None else None
        if drag == "pan":
            shape = Qt.CursorShape.ClosedHandCursor
        elif drag == "split" or (pane is not None and drag is None and self._on_divider(pane, pos)):
            shape = Qt.CursorShape.SplitHCursor
        elif self._tool is not None and (drag == "paint" or self._paint_pane(pos) is not None):
            shape = Qt.CursorShape.BlankCursor  # the brush outline is the cursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.setCursor(shape)

    def _set_canvas(self, canvas: MaskCanvas | None) -> None:
        self._canvas = canvas
        self._mask_changed()
        if self._drag is not None and self._drag.kind == "paint":
            self._drag = None  # the stroke belonged to the mask just replaced

    def _end_drag(self) -> None:
        """Finish what the mouse was doing; a stroke under way is committed as one step."""
        drag, self._drag = self._drag, None
        if drag is not None and drag.kind == "paint":
            self._emit_mask(self._canvas.end_stroke())

    def _emit_mask(self, mask: np.ndarray) -> None:
        self._mask_changed()
        self.strokeFinished.emit(mask)

    def _mask_changed(self) -> None:
        """The whole mask may differ: overlays are rebuilt, not patched."""
        self._overlays.clear()
        self.update()


def _draw_tag(
    painter: QPainter,
    text: str,
    area: QRectF,
    place: str,
    *,
    color: QColor | None = None,
    small: bool = False,
) -> None:
    """A label on a dark translucent box inside `area`, at its "top-left", "top-right",
    "bottom" (centre) or "bottom-left"."""
    if area.isEmpty():
        return
    painter.save()
    font = QFont(painter.font())
    font.setPixelSize(12 if small else 15)
    font.setBold(not small)
    painter.setFont(font)
    metrics = QFontMetricsF(font)
    pad_x, pad_y, margin = (6, 3, 8) if small else (10, 6, 12)
    width = metrics.horizontalAdvance(text) + 2 * pad_x
    height = metrics.height() + 2 * pad_y
    top = area.top() + margin if place.startswith("top") else area.bottom() - margin - height
    if place.endswith("left"):
        left = area.left() + margin
    elif place.endswith("right"):
        left = area.right() - margin - width
    else:
        left = area.center().x() - width / 2
    box = QRectF(left, top, width, height)
    painter.setClipRect(area)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_TAG_BOX)
    painter.drawRoundedRect(box, 4, 4)
    painter.setPen(color if color is not None else QColor(235, 235, 235))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
