"""What the project knows about its source video: probed facts and a content fingerprint.

These are plain data so the project document can hold them; `media.probe` fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class AudioInfo:
    index: int  # stream index in the container
    codec: str
    sample_rate: int
    channels: int
    start_time: float  # seconds, container clock
    duration: float | None  # seconds, None when the container does not say


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the video stream, as the editor sees it.

    `width`/`height` are the size of decoded frames after the display rotation is applied
    (frames are always delivered upright). `fps` is the constant-rate grid the project uses:
    frame N of the project is the source picture shown at `start_time + N / fps`, which maps a
    variable-frame-rate source onto a regular grid.
    """

    width: int
    height: int
    sample_aspect: Fraction  # pixel aspect ratio (SAR); 1 for square pixels
    rotation: int  # degrees clockwise the stored picture is turned for display (0/90/180/270)
    pix_fmt: str
    codec: str
    avg_rate: Fraction  # average frame rate the container reports
    real_rate: Fraction  # lowest rate that represents all timestamps (r_frame_rate)
    fps: Fraction  # the project's frame grid rate
    frame_count: int  # frames on the grid (counted, not trusted from the header)
    duration: float  # seconds covered by the grid: frame_count / fps
    start_time: float  # seconds, first video timestamp on the container clock
    vfr: bool  # timestamps are not evenly spaced
    audio: tuple[AudioInfo, ...] = ()

    @property
    def display_aspect(self) -> Fraction:
        return Fraction(self.width, self.height) * self.sample_aspect


@dataclass(frozen=True)
class Fingerprint:
    """Identity of the source's content: size plus hashes of sampled chunks.

    `mtime_ns` is not part of the identity; it only says when the file must be re-hashed.
    """

    size: int
    digest: str
    mtime_ns: int


@dataclass(frozen=True)
class Source:
    path: str  # absolute path as last seen
    fingerprint: Fingerprint
    info: VideoInfo
