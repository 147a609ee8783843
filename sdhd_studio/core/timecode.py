"""Times as people read them: `mm:ss`, `h:mm:ss`, with hundredths for a frame's position."""

from __future__ import annotations

import math
from fractions import Fraction


def clock(seconds: float, hours: bool = False, hundredths: bool = False) -> str:
    """`mm:ss`, or `h:mm:ss` when `hours` is set or needed; `hundredths` appends `.cc`."""
    centis = int(round(seconds * 100)) if hundredths else int(seconds) * 100
    whole, cc = divmod(max(0, centis), 100)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h}:{m:02d}:{s:02d}" if hours or h else f"{m:02d}:{s:02d}"
    return f"{text}.{cc:02d}" if hundredths else text


def frame_time(index: int, fps: Fraction, hours: bool = False) -> str:
    """When frame `index` starts, rounded down to 1/100 s (so a frame never shows as the next
    frame's time): `mm:ss.cc`, or `h:mm:ss.cc`."""
    centis = math.floor(Fraction(index) * 100 / fps) if fps > 0 else 0
    return clock(centis / 100, hours, hundredths=True)
