"""Where each output frame sits in the source: frame-rate conversion as a list of positions.

Output frame j shows the source at time j / output_fps. In source frames that is position
p = j * source_fps / output_fps: frame floor(p), a fraction t = p - floor(p) of the way to the
next. t = 0 is a source frame itself; anything else is made by interpolation. Past the last
source frame there is nothing to move towards, so it is held.
"""

from __future__ import annotations

from fractions import Fraction

from sdhd_studio.core.project import Project

Position = tuple[int, Fraction]  # (source frame, fraction of the way to the next, in [0, 1))


def output_positions(project: Project) -> list[Position]:
    """Every output frame's position, in order; as many frames as the source lasts."""
    count = project.frame_count
    ratio = project.source.info.fps / project.output.fps(project.source.info)
    total = max(1, round(count / ratio))
    # Whole-number arithmetic: Fraction objects per frame cost most of a 100,000-frame plan.
    num, den = ratio.numerator, ratio.denominator
    if num == den:  # no conversion: the usual case, and the one that must be quick
        return [(index, _ZERO) for index in range(count)]
    out = []
    for j in range(total):
        index, rest = divmod(j * num, den)
        if index >= count - 1:
            out.append((count - 1, _ZERO))
        else:
            out.append((index, Fraction(rest, den) if rest else _ZERO))
    return out


_ZERO = Fraction(0)
