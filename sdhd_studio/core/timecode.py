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


def parse_frame(text: str, fps: Fraction, count: int) -> int:
    """A frame as typed: a frame number (`1563`), seconds (`62.5s`), or a time as the editor
    shows it (`1:02.52`, `00:01:02.52`) or with frames (`00:01:02:13`).

    A time means the first frame that starts at or after it, so a time the editor shows for a
    frame (rounded down to 1/100 s) names that frame again. ValueError, saying what is
    accepted, for anything else or a frame outside 0..count-1.
    """
    text = text.strip()
    try:
        index = _frame_of(text, Fraction(fps))
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"{text!r} is not a frame: give a frame number (1563), seconds (62.5s) or a time "
            "(01:02.52, 0:01:02.52, or 0:01:02:13 with frames)"
        ) from None
    if not 0 <= index < count:
        what = f"frame {index}" if text.lstrip("-").isdigit() else f"{text} (frame {index})"
        raise ValueError(f"{what} is out of range: the video has {count} frames (0-{count - 1})")
    return index


def _frame_of(text: str, fps: Fraction) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    if text.endswith("s") and ":" not in text:
        return math.ceil(_seconds(text[:-1]) * fps)
    parts = text.split(":")
    if len(parts) == 4:  # h:mm:ss:ff, frames counted from the second's first frame
        h, m, s, f = (int(p) for p in parts)
        if not (0 <= m < 60 and 0 <= s < 60 and 0 <= f < math.ceil(fps)):
            raise ValueError
        return math.ceil((h * 3600 + m * 60 + s) * fps) + f
    if len(parts) not in (2, 3):
        raise ValueError
    *whole, seconds = parts
    units = [int(p) for p in whole]  # [minutes] or [hours, minutes]
    sec = _seconds(seconds)
    if sec >= 60 or any(u < 0 for u in units) or (len(units) == 2 and units[1] >= 60):
        raise ValueError
    total = sec + sum(u * 60**i for i, u in enumerate(reversed(units), 1))
    return math.ceil(total * fps)


def _seconds(text: str) -> Fraction:
    """Non-negative decimal seconds, exactly (so 0.04 s at 25 fps is frame 1, not 0.99...)."""
    if not text or text.startswith(("-", "+")) or "e" in text.lower() or "/" in text:
        raise ValueError
    return Fraction(text)
