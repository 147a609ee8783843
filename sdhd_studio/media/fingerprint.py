"""Recognising the source video's content, so a moved or touched file keeps its cached work."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import av

from sdhd_studio.core.errors import MediaError, SourceChangedError
from sdhd_studio.core.source import Fingerprint, Source
from sdhd_studio.media import disc

CHUNK = 64 * 1024
_MIDDLE_CHUNKS = 8


def fingerprint(path: str) -> Fingerprint:
    """Size plus a sha256 over the head, tail and 8 evenly spaced 64 KiB chunks (and the size).

    Reading ~640 KiB keeps this instant for any file size; an edit that touches none of the
    sampled chunks and keeps the size goes unnoticed, which is accepted for video files.
    """
    try:
        files = disc.parts(path)
        digest = hashlib.sha256()
        for part in files:  # a DVD title's VOBs each in turn; a plain file is one part
            size = os.stat(part).st_size
            digest.update(size.to_bytes(8, "little"))
            with open(part, "rb") as f:
                for offset in _chunk_offsets(size):
                    f.seek(offset)
                    digest.update(f.read(CHUNK))
        size, mtime_ns = disc.size_and_mtime(path)
    except FileNotFoundError as exc:
        raise MediaError(f"{path} does not exist") from exc
    except OSError as exc:
        raise MediaError(f"{path} could not be read: {exc.strerror}") from exc
    return Fingerprint(size=size, digest=digest.hexdigest(), mtime_ns=mtime_ns)


def check_source(source: Source, path: str | None = None) -> Source:
    """The project's source as it is now, or an error if its content is no longer there.

    With `path` (the user located the file elsewhere) that file is checked instead and the
    returned Source points to it. An unchanged size and mtime skip the hashing.
    """
    target = os.path.abspath(path) if path is not None else source.path
    if not os.path.exists(target):
        if path is not None:
            raise MediaError(f"{target} does not exist")
        raise MediaError(f"the source video {target} is missing; locate it to continue")
    known = source.fingerprint
    if path is None and disc.size_and_mtime(target) == (known.size, known.mtime_ns):
        return source
    current = fingerprint(target)
    if current.digest != known.digest:
        raise SourceChangedError(f"the source at {target} was replaced by different content")
    return dataclasses.replace(source, path=target, fingerprint=current)


def check_recorded_length(source: Source) -> None:
    """Refuse a project whose record of the source's length cannot be true of the file (a
    damaged or crafted project.json): every plan walks that many frames. Only the container
    header is read; its duration is an estimate, hence the wide margin."""
    try:
        with av.open(source.path) as container:
            actual = None if container.duration is None else container.duration / av.time_base
    except (av.FFmpegError, OSError):
        return  # the reader reports an unreadable file where it matters, per frame
    recorded = source.info.duration
    if actual is not None and recorded > 2 * actual + 60:
        raise MediaError(
            f"the project says {source.path} lasts {recorded:.0f} s, but the file holds "
            f"{actual:.0f} s: the project file is damaged"
        )


def _chunk_offsets(size: int) -> list[int]:
    if size <= CHUNK * (_MIDDLE_CHUNKS + 2):
        return list(range(0, size, CHUNK)) or [0]
    last = size - CHUNK
    return [last * i // (_MIDDLE_CHUNKS + 1) for i in range(_MIDDLE_CHUNKS + 2)]
