"""What the project knows about its source video: probed facts and a content fingerprint.

These are plain data so the project document can hold them; `media.probe` fills them in.
"""

from __future__ import annotations

import hashlib
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
    language: str | None = None  # the stream's language tag ("eng"); None when absent or "und"

    def describe(self, track: int) -> str:
        """How `sdhd info` and the editor name it: "audio 1: ac3, 48000 Hz, 2 ch, eng"."""
        language = f", {self.language}" if self.language else ""
        return (f"audio {track}: {self.codec}, {self.sample_rate} Hz, {self.channels} ch"
                f"{language}")


@dataclass(frozen=True)
class Analysis:
    """What the pictures and tags say the source is, found once when the project is made.

    `scan` is progressive, interlaced, telecined or mixed, judged from combing in a sample of
    frames (flags are often wrong both ways); `field_order` is tff/bff as the fields' motion
    says (the flags when the pictures cannot tell; `changes` when parts disagree),
    `flagged_order` what the stream claims.
    Colour is as tagged, else the standard for the size: SD is BT.601 of its line system, HD
    BT.709; `colour_tagged` says which.
    """

    scan: str
    field_order: str
    flagged_order: str
    cadence: str  # "3:2" for telecined film, else ""
    comb: float  # mean comb score of sampled moving frames (>0 combed, <0 clean)
    sampled: int  # frames looked at
    matrix: str  # bt601 | bt709
    full_range: bool
    primaries: str  # bt470bg (625 lines) | smpte170m (525 lines) | bt709 | as tagged
    transfer: str
    colour_tagged: bool


DEINTERLACE_MODES = ("auto", "double", "mc", "single", "off")
FIELD_ORDERS = ("auto", "tff", "bff", "progressive")
IVTC_MODES = ("auto", "on", "off")
COLOUR_MATRICES = ("auto", "bt601", "bt709")


@dataclass(frozen=True)
class Conditioning:
    """How the project's frames are made from the file's pictures: the first recipe stage.

    The first four are the user's choices ("auto" follows the analysis); `mode`, `order`,
    `matrix` and `full_range` are what they resolve to. `mode` is `progressive` (pictures as
    they are), `double` (one frame per field), `single` (one frame per picture, deinterlaced)
    or `ivtc` (telecined film back to its film frames, by `telecine`).
    `stream_fps`/`stream_frames` are the picture grid the frames are made from.
    """

    field_order: str = "auto"
    deinterlace: str = "auto"
    ivtc: str = "auto"
    colour_matrix: str = "auto"
    mode: str = "progressive"
    order: str = "tff"
    matrix: str = ""  # "": as FFmpeg's default decides (projects made before analysis)
    full_range: bool = False
    stream_fps: Fraction | None = None  # None: the same as the project's grid
    stream_frames: int | None = None
    telecine: str = ""  # ivtc: the film frames' fields (core.conditioning.encode_map)
    motion: bool = False  # double, with missing lines along the flow (`ml.deinterlace`)

    @property
    def fields_per_frame(self) -> int:
        """Project frames made from one picture of the file."""
        return 2 if self.mode == "double" else 1

    def stage(self) -> dict[str, object] | None:
        """The recipe stage: what a frame's pixels depend on (choices that resolve to the same
        pixels give the same stage); None for projects made before sources were analysed."""
        if not self.matrix:
            return None
        stage: dict[str, object] = {"name": "condition", "version": 1, "matrix": self.matrix,
                                    "full_range": self.full_range}  # fmt: skip
        if self.mode != "progressive":
            stage.update(mode=self.mode, order=self.order, filter="bwdif")
        if self.motion:
            stage.update(motion={"name": "dis-fields", "version": 2})
        if self.mode == "ivtc":
            digest = hashlib.sha256(self.telecine.encode("ascii")).hexdigest()[:16]
            stage.update(telecine=digest)
        return stage


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the video stream, as the editor sees it.

    `fps`, `frame_count` and `duration` are those of the project's frames, i.e. after
    `conditioning` (a 25i source deinterlaced to one frame per field has 50 fps); the file's
    own picture grid is `conditioning.stream_fps`/`stream_frames` when they differ.

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
    analysis: Analysis | None = None  # None in projects made before sources were analysed
    conditioning: Conditioning = Conditioning()

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
