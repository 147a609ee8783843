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
    out = []
    for j in range(total):
        p = j * ratio
        index = min(int(p), count - 1)
        t = p - index if index < count - 1 else Fraction(0)
        out.append((index, t))
    return out
