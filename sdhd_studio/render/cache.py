"""Finished frames stored by recipe key, plus the little bookkeeping the timeline needs.

Layout: `cache/ab/cdef....frame` (lossless, see media/frame_codec.py), written to a temp name
and renamed, so a frame is either completely there or not at all, whatever happens to the
process.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from sdhd_studio.core.errors import CacheWriteError
from sdhd_studio.core.folder import write_atomic
from sdhd_studio.media.frame_codec import decode_frame, encode_frame

_EXT = ".frame"


class FrameCache:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._log_lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / (key[2:] + _EXT)

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def keys(self) -> set[str]:
        """Every complete entry; one directory scan, cheap enough for 100,000 frames."""
        return {key for key, _ in self._entries()}

    def sizes(self) -> dict[str, int]:
        """Every complete entry and its size in bytes, from the same scan (the directory
        entries' own stat: the editor opens a project of 100,000 cached frames in half the time
        a stat by path takes)."""
        sizes: dict[str, int] = {}
        for key, entry in self._entries():
            with contextlib.suppress(OSError):  # removed meanwhile
                sizes[key] = entry.stat().st_size
        return sizes

    def _entries(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        if not self.root.is_dir():
            return
        for shard in os.scandir(self.root):
            if shard.is_dir() and len(shard.name) == 2:
                for entry in os.scandir(shard.path):
                    if entry.name.endswith(_EXT) and not entry.name.startswith("."):
                        yield shard.name + entry.name[: -len(_EXT)], entry

    def get(self, key: str) -> np.ndarray:
        """The frame stored under `key`; KeyError if absent."""
        path = self.path(key)
        try:
            return decode_frame(path.read_bytes())
        except FileNotFoundError:
            raise KeyError(key) from None
        except ValueError:
            # Only a power cut can leave a damaged entry; dropping it makes the frame dirty.
            path.unlink(missing_ok=True)
            raise KeyError(key) from None

    def put(self, key: str, image: np.ndarray) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, encode_frame(image), durable=False)
        except OSError as exc:
            raise CacheWriteError(_write_error(self.root, exc)) from None

    def copy_to(self, root: str | os.PathLike[str]) -> FrameCache:
        """This cache copied to `root`, for a project saved under a new name.

        Frames are hard-linked where the file system allows it (instant, no extra space:
        entries are replaced, never modified in place) and copied otherwise. The append-only
        log is always copied, so the two projects never write into one file.
        """
        try:
            shutil.copytree(self.root, root, copy_function=_link_or_copy, dirs_exist_ok=True)
        except (OSError, shutil.Error) as exc:
            raise CacheWriteError(f"cannot copy the frame cache to {root}: {exc}") from None
        return FrameCache(root)

    def size(self) -> tuple[int, int]:
        """(entries, bytes) currently stored."""
        count = total = 0
        for key in self.keys():
            with contextlib.suppress(FileNotFoundError):
                total += self.path(key).stat().st_size
                count += 1
        return count, total

    def gc(self, keep: Iterable[str]) -> tuple[int, int]:
        """Delete entries not in `keep` and stray temp files; returns (entries, bytes) freed.

        Symbolic links are never followed: a link planted in the cache (or the cache folder
        itself being one) must not make gc delete files somewhere else.
        """
        if self.root.is_symlink():
            raise CacheWriteError(f"{self.root} is a link to {os.path.realpath(self.root)}; "
                                  "gc deletes nothing through links")
        keep = set(keep)
        count = total = 0
        for shard in self.root.glob("??"):
            if shard.is_symlink() or not shard.is_dir():
                continue
            for entry in shard.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    continue
                key = shard.name + entry.name[: -len(_EXT)]
                stray = entry.name.startswith(".")
                if stray or (entry.name.endswith(_EXT) and key not in keep):
                    size = entry.lstat().st_size
                    entry.unlink()
                    total += size
                    count += 0 if stray else 1
        return count, total

    # -- which frames were ever rendered: turns "not cached" into dirty rather than empty ----

    @property
    def _log_path(self) -> Path:
        return self.root / "rendered.log"

    def mark_rendered(self, index: int) -> None:
        with self._log_lock, contextlib.suppress(OSError), open(self._log_path, "a") as fh:
            fh.write(f"{index}\n")

    def rendered_frames(self) -> set[int]:
        try:
            lines = self._log_path.read_bytes().split(b"\n")
        except (FileNotFoundError, IsADirectoryError):
            return set()
        # A process killed mid-append can leave a partial last line: ignore it, and anything
        # else that is not a frame number (bookkeeping only: a lost line makes a frame "empty"
        # rather than "dirty").
        return {int(line) for line in lines[:-1] if line.isdigit() and len(line) < 12}

    # -- failures, by recipe key, so a changed setting clears them by itself -------------------

    @property
    def _failures_path(self) -> Path:
        return self.root / "failures.json"

    def failures(self) -> dict[str, str]:
        try:
            found = json.loads(self._failures_path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(found, dict):
            return {}
        return {k: v for k, v in found.items() if isinstance(v, str)}

    def set_failures(self, failures: Mapping[str, str]) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self._failures_path, json.dumps(dict(failures)).encode())


def _link_or_copy(src: str, dst: str) -> None:
    if src.endswith(_EXT):
        with contextlib.suppress(OSError):
            os.link(src, dst)
            return
    shutil.copy2(src, dst)


def _write_error(root: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"disk full: cannot store a rendered frame in {root}"
    return f"cannot store a rendered frame in {root}: {exc.strerror or exc}"
