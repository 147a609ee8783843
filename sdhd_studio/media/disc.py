"""DVD titles as one source: a `VIDEO_TS` folder, or a title's first VOB with the ones after it.

A DVD stores each title as one MPEG program stream split into VOB files of at most 1 GB
(`VTS_01_1.VOB`, `VTS_01_2.VOB`, ...; `VTS_01_0.VOB` is the title's menu). The pieces are cut
at pack boundaries, so joined end to end (FFmpeg's `concat:` protocol) they are the stream.
"""

from __future__ import annotations

import os
import re

from sdhd_studio.core.errors import MediaError

_TITLE_PART = re.compile(r"^VTS_(\d\d)_([1-9])\.VOB$", re.IGNORECASE)


def parts(path: str) -> list[str]:
    """The files that make up the source at `path`, in order (just `path` for a plain file).

    A folder is a DVD (its own `VIDEO_TS` or the one inside it): the title with the most
    video, since that is the film; a `VTS_nn_1.VOB` brings `VTS_nn_2.VOB`... along.
    """
    if os.path.isdir(path):
        titles = _titles(path)
        if not titles:
            raise MediaError(
                f"{path} is a folder without a DVD video title (no VTS_nn_1.VOB in it or in "
                "its VIDEO_TS folder); give a video file or a DVD's VIDEO_TS folder"
            )
        title = max(titles.values(), key=lambda files: sum(map(os.path.getsize, files)))
        numbers = [int(os.path.basename(f)[7]) for f in title]  # VTS_nn_N.VOB
        if numbers != list(range(1, len(title) + 1)):
            # Joined across a missing piece, the stream would jump there and break mid-GOP.
            first = os.path.basename(title[0])
            missing = next(n for n in range(1, 10) if n not in numbers)
            raise MediaError(
                f"{path}: the title {first[:6]} lacks its part {first[:7]}{missing}{first[8:]} "
                f"(found {', '.join(map(os.path.basename, title))}); copy it from the disc"
            )
        return title
    folder, name = os.path.split(path)
    match = _TITLE_PART.match(name)
    if not match or match.group(2) != "1":
        return [path]
    found = [path]
    for n in range(2, 10):
        following = os.path.join(folder, name[:7] + str(n) + name[8:])
        if not os.path.isfile(following):
            break
        found.append(following)
    return found


def is_disc(path: str) -> bool:
    """Whether `path` is a folder holding a DVD title (its own or its VIDEO_TS folder's)."""
    return os.path.isdir(path) and bool(_titles(path))


def _titles(path: str) -> dict[str, list[str]]:
    """The title parts in the folder `path` or its VIDEO_TS folder, by title number."""
    # A disc mounted as ISO 9660 (Linux's default mapping) shows its names in lower case.
    inner = [os.path.join(path, name) for name in sorted(os.listdir(path))
             if name.upper() == "VIDEO_TS" and os.path.isdir(os.path.join(path, name))]
    folder = inner[0] if inner else path
    titles: dict[str, list[str]] = {}
    for name in sorted(os.listdir(folder)):
        match = _TITLE_PART.match(name)
        if match:
            titles.setdefault(match.group(1), []).append(os.path.join(folder, name))
    return titles


def url(path: str) -> str:
    """What FFmpeg opens for `path`: the file, or the title's pieces joined."""
    files = parts(path)
    return files[0] if len(files) == 1 else "concat:" + "|".join(files)


def size_and_mtime(path: str) -> tuple[int, int]:
    """Total size and newest modification time (ns) of the source's files."""
    stats = [os.stat(p) for p in parts(path)]
    return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)
