"""Frame-accurate reading of project frames as upright RGB arrays."""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from fractions import Fraction
from types import TracebackType

import av
import av.filter
import cv2
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from sdhd_studio.core.conditioning import DEINTERLACE, decode_map
from sdhd_studio.core.errors import FrameDecodeError, MediaError
from sdhd_studio.core.source import Conditioning, VideoInfo
from sdhd_studio.media.container import open_video, use_threads
from sdhd_studio.media.frame_index import frame_index
from sdhd_studio.media.probe import grid_pictures, probe
from sdhd_studio.media.telecine import other_picture, weave

# Decoding on from where the decoder stands is preferred over a seek when it costs at most this
# many pictures more than decoding from the keyframe (a seek also drops decoder state).
_FORWARD_SLACK = 8
# A seek that lands after the keyframe it aimed at (MPEG program and transport streams seek by
# byte position and often do) is retried this much earlier, doubling each time.
_SEEK_BACKOFF = Fraction(1, 2)
# Chroma interpolated to every pixel with exact rounding, as ffmpeg's command line does: against
# a progressive truth, 4:1:1 DV comes out 1.1 dB closer than with swscale's plain bilinear.
_TO_RGB = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.ACCURATE_RND
# (field before, field, field after, which rows are the field's own: 0 or 1) -> refined field
FieldRefiner = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
_COLORSPACES = {"bt601": Colorspace.ITU601, "bt709": Colorspace.ITU709}
_DROPPED = "the decoder produced no picture for it (damaged or missing data)"


class FrameReader:
    """Reads project frames of one video; one reader per thread (it is not thread-safe).

    Frame N is the source picture shown at `info.start_time + N / info.fps`, so a
    variable-frame-rate source repeats or skips pictures to fit the constant grid.
    """

    def __init__(
        self,
        path: str,
        info: VideoInfo | None = None,
        *,
        cache_size: int = 8,
        refine: FieldRefiner | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self.info = info if info is not None else probe(self.path)
        self._index = frame_index(self.path)
        self._conditioning = cond = self.info.conditioning
        stream = self.info
        if cond.stream_fps is not None and cond.stream_frames is not None:
            stream = dataclasses.replace(stream, fps=cond.stream_fps,
                                         frame_count=cond.stream_frames)  # fmt: skip
        self._grid = grid_pictures(self._index, stream)
        self._container, self._stream = open_video(self.path)
        use_threads(self._stream)
        self._rot90 = (-self.info.rotation // 90) % 4  # np.rot90 turns counter-clockwise
        self._deinterlace = _Deinterlacer(cond) if cond.mode != "progressive" else None
        self._film = decode_map(cond.telecine) if cond.mode == "ivtc" else None
        # Decoded pictures by position; a deinterlaced picture needs its two neighbours.
        self._cache: OrderedDict[int, VideoFrame] = OrderedDict()
        self._cache_size = max(4 if self._deinterlace else 1, cache_size)
        self._made: OrderedDict[int, np.ndarray] = OrderedDict()  # conditioned frames
        # Motion-compensated deinterlacing lives in ml/, above this layer: it comes injected
        # (`render.sources.open_reader`) and is used when the conditioning asks for it.
        self._refine = refine if cond.motion else None
        self._refined: OrderedDict[int, np.ndarray] = OrderedDict()
        self._decoded: Iterator[VideoFrame | str] | None = None
        self._position = -1  # last picture the decoder produced since its seek
        self._last_error = ""  # decode error seen since the last picture
        self._gap_reason = _DROPPED  # why the last wanted picture did not come
        self._seek_margin = 0  # how far before a keyframe seeks aim; grows when they land late
        self._closed = False

    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    def read(self, index: int) -> np.ndarray:
        """Project frame `index` as a new HxWx3 uint8 RGB array, upright."""
        self._check_range(index)
        if self._deinterlace is None:
            return self._to_rgb(self._picture(int(self._grid[index]), index))
        if self._refine is not None:
            return self._refined_field(index).copy()
        return self._deinterlaced(index).copy()

    def _refined_field(self, index: int) -> np.ndarray:
        """Field `index` refined from the bwdif pictures of it and the fields either side."""
        assert self._refine is not None
        refined = self._refined.get(index)
        if refined is None:
            last = self.info.frame_count - 1
            before, after = self._deinterlaced(max(index - 1, 0)), self._deinterlaced(
                min(index + 1, last))  # fmt: skip
            first_field = index % 2 == 0
            parity = int(first_field) ^ int(self._conditioning.order == "tff")
            refined = self._refine(before, self._deinterlaced(index), after, parity)
            self._refined[index] = refined
            while len(self._refined) > self._cache_size:
                self._refined.popitem(last=False)
        return refined

    def _deinterlaced(self, index: int) -> np.ndarray:
        made = self._made.get(index)
        if made is None:
            made = self._film_frame(index) if self._film is not None else self._conditioned(index)
        return made

    def _film_frame(self, index: int) -> np.ndarray:
        """Film frame `index` of a telecined source: its two fields woven, or the picture
        deinterlaced where the map says no two fields match (video-rate material)."""
        assert self._film is not None and self._deinterlace is not None
        pictures, codes = self._film
        frame, code = int(pictures[index]), int(codes[index])
        if code >= DEINTERLACE:
            around = [f for f in (frame - 1, frame, frame + 1) if 0 <= f < len(self._grid)]
            made = self._deinterlace(
                [self._picture(int(self._grid[f]), index) for f in around], around.index(frame)
            )[0]
        else:
            kept = self._picture(int(self._grid[frame]), index)
            other = self._picture(int(self._grid[other_picture(frame, code, len(self._grid))]),
                                  index)  # fmt: skip
            made = weave(kept, other, self._conditioning.order)
        image = self._made[index] = self._to_rgb(made)
        while len(self._made) > 2 * self._cache_size:
            self._made.popitem(last=False)
        return image

    def _conditioned(self, index: int) -> np.ndarray:
        """Deinterlace the picture of frame `index` from exactly it and its neighbours on the
        grid (whichever way it is reached), keeping every frame it makes."""
        assert self._deinterlace is not None
        per = self._conditioning.fields_per_frame
        frame = index // per
        around = [f for f in (frame - 1, frame, frame + 1) if 0 <= f < len(self._grid)]
        pictures = [self._picture(int(self._grid[f]), f * per) for f in around]
        made = self._deinterlace(pictures, around.index(frame))
        for n, picture in enumerate(made):
            self._made[frame * per + n] = self._to_rgb(picture)
            self._made.move_to_end(frame * per + n)
        while len(self._made) > 2 * self._cache_size:
            self._made.popitem(last=False)
        return self._made[index]

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Project frames start..stop-1 in order; each array is new and owned by the caller.

        A damaged frame raises FrameDecodeError and ends the iteration; resume with
        `frames(error.index + 1, stop)`.
        """
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        if start != stop:
            self._check_range(start)
        for index in range(start, stop):
            yield index, self.read(index)

    def close(self) -> None:
        self._decoded = None
        self._cache.clear()
        self._closed = True
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_range(self, index: int) -> None:
        count = self.info.frame_count
        if not 0 <= index < count:
            raise MediaError(
                f"frame {index} is out of range: the video has {count} frames (0-{count - 1})"
            )

    def _picture(self, picture: int, index: int) -> VideoFrame:
        if self._closed:
            # PyAV frees the streams on close; touching them afterwards would crash.
            raise ValueError(f"the reader of {self.path} is closed")
        cached = self._cache.get(picture)
        if cached is not None:
            self._cache.move_to_end(picture)
            return cached
        keyframe = self._index.keyframe_before(picture)
        ahead = picture - self._position
        if self._decoded is not None and 0 < ahead <= picture - keyframe + _FORWARD_SLACK:
            image = self._decode_to(picture, index)
            if image is not None:
                return image  # else the decoder skipped it after its seek: seek again (below)
        self._seek(keyframe)
        image = self._decode_to(picture, index)
        if image is None and keyframe > 0:
            # The seek went past the picture (inexact keyframe flags), or the decoder skipped
            # it (MPEG-4 Part 2 drops interlaced B-pictures until the second keyframe after a
            # seek: their timing comes from the GOP before): start a GOP further back.
            self._seek(self._index.keyframe_before(keyframe - 1))
            image = self._decode_to(picture, index)
        if image is None:
            raise FrameDecodeError(index, self._gap_reason)
        return image

    def _seek(self, keyframe: int) -> None:
        """Make the decoder start at exactly `keyframe`'s packet, whatever the container does.

        Packets before it are skipped unread by the decoder, so every seek to a keyframe leaves
        the decoder in the same state, which is what makes frame N the same pixels however it
        is reached.
        """
        key_pts = int(self._index.pts[keyframe])
        key_dts = self._index.decode_time(keyframe)
        start = int(self._index.key_dts[0])
        backoff = max(1, round(_SEEK_BACKOFF / self._index.time_base))
        while True:
            target = key_dts - self._seek_margin
            self._container.seek(target, stream=self._stream, backward=True)
            packets = self._container.demux(self._stream)
            found = _skip_to_key(packets, key_pts, key_dts)
            if found is not None or target < start:
                break
            self._seek_margin = max(2 * self._seek_margin, backoff)
        self._decoded = self._decode_all(packets, found)
        self._position = -1
        self._last_error = ""

    def _decode_to(self, picture: int, index: int) -> VideoFrame | None:
        """Decode on until `picture`; None when it never came (see `_gap_reason`)."""
        assert self._decoded is not None
        for item in self._decoded:
            if isinstance(item, str):
                self._last_error = item
                continue
            found = self._index.picture_at(item.pts) if item.pts is not None else None
            if found is None or found <= self._position:
                continue  # leading pictures of an open GOP that the seek cannot rebuild
            self._position = found
            # Errors reported since the previous picture explain a gap before this one.
            self._gap_reason, self._last_error = self._last_error or _DROPPED, ""
            if found < picture:
                continue
            if found == picture:
                if item.is_corrupt:
                    raise FrameDecodeError(index, "the decoder reported damaged data")
                self._remember(found, item)
                return item
            if not item.is_corrupt:
                self._remember(found, item)  # it would be lost otherwise
            return None
        self._decoded = None
        self._gap_reason = self._last_error or _DROPPED
        return None

    def _decode_all(
        self, packets: Iterator[av.Packet], first: av.Packet | None
    ) -> Iterator[VideoFrame | str]:
        """Decoded pictures in display order, with the text of any decode error in between."""
        try:
            if first is not None:
                yield from self._decode_packet(first)
            for packet in packets:
                ts = packet.pts if packet.pts is not None else packet.dts
                if packet.is_corrupt and ts is not None and self._index.picture_at(ts) is None:
                    # The picture a cut-off file ends inside, which the index leaves out: a
                    # threaded decoder would lose the picture before it to its error.
                    continue
                yield from self._decode_packet(packet)
        except av.FFmpegError as exc:
            yield f"the file could not be read further ({exc.strerror})"

    def _decode_packet(self, packet: av.Packet) -> Iterator[VideoFrame | str]:
        try:
            yield from packet.decode()
        except av.FFmpegError as exc:
            yield f"its data is damaged ({exc.strerror})"

    def _to_rgb(self, frame: VideoFrame) -> np.ndarray:
        """RGB by the source's matrix and range (projects made before the analysis: FFmpeg's
        default, as then)."""
        cond = self._conditioning
        if not cond.matrix:
            image = frame.to_ndarray(format="rgb24")
        else:
            # Even sizes go out to planar GBR and are interleaved here: swscale writes exactly
            # the same values there as to packed RGB at half the cost (its packed writer with
            # full chroma interpolation is slow). At odd sizes the two differ by one level at
            # the edge, so those keep the packed path (a frame's pixels must not change).
            even = frame.width % 2 == 0 and frame.height % 2 == 0
            rgb = frame.reformat(
                format="gbrp" if even else "rgb24",
                src_colorspace=_COLORSPACES[cond.matrix],
                src_color_range=ColorRange.JPEG if cond.full_range else ColorRange.MPEG,
                interpolation=_TO_RGB,
            )
            image = _interleaved(rgb) if even else rgb.to_ndarray()
        if self._rot90:
            image = np.ascontiguousarray(np.rot90(image, self._rot90))
        return image

    def _remember(self, picture: int, image: VideoFrame) -> None:
        self._cache[picture] = image
        self._cache.move_to_end(picture)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _interleaved(frame: VideoFrame) -> np.ndarray:
    """A gbrp frame as a new HxWx3 RGB array."""
    g, b, r = (np.frombuffer(p, np.uint8).reshape(frame.height, p.line_size)[:, : frame.width]
               for p in frame.planes)  # fmt: skip
    return cv2.merge([r, g, b])


def _skip_to_key(packets: Iterator[av.Packet], key_pts: int, key_dts: int) -> av.Packet | None:
    """Demux on to the keyframe's packet; None when the packets are already past it.

    Packets are in decode order, so one decoded after the keyframe means the seek landed late.
    """
    try:
        for packet in packets:
            if packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts == key_pts and packet.is_keyframe:
                return packet
            order = packet.dts if packet.dts is not None else ts
            if order is not None and order > key_dts:
                return None
    except av.FFmpegError:
        pass  # a damaged stretch before the keyframe: the caller seeks further back
    return None


class _Deinterlacer:
    """FFmpeg's bwdif through PyAV's filter graph, run afresh over a picture and its neighbours
    so that its output depends on nothing else (a graph kept running would remember what it
    was fed before a seek)."""

    def __init__(self, conditioning: Conditioning) -> None:
        send = "send_field" if conditioning.mode == "double" else "send_frame"
        parity = "tff" if conditioning.order == "tff" else "bff"
        self._args = f"mode={send}:parity={parity}:deint=all"
        self._per = conditioning.fields_per_frame

    def __call__(self, pictures: list[VideoFrame], middle: int) -> list[VideoFrame]:
        """The frames made from `pictures[middle]`: one per field, or one."""
        first = pictures[0]
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=first.width, height=first.height, format=first.format.name,
            time_base=Fraction(1, 50),
        )  # fmt: skip
        bwdif = graph.add("bwdif", self._args)
        sink = graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        out: list[VideoFrame] = []
        for n, picture in enumerate(pictures):
            picture.pts = n  # the filter wants rising timestamps; the file's may not be
            source.push(picture)
        source.push(None)
        while True:
            try:
                out.append(sink.pull())
            except (av.BlockingIOError, av.EOFError):
                break
        return out[middle * self._per : (middle + 1) * self._per]
