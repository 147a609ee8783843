"""Locks between processes: the one way a project folder or an output file is locked.

An OS advisory lock (`flock` on POSIX, `msvcrt.locking` on Windows) is held on a small lock
file for as long as the work that needs it. The OS drops it when the holder exits or is killed,
so a crash never leaves a stale lock behind (a lock file that merely exists means nothing).
Waiting is a poll, so it honours a timeout and a cancel check, and Ctrl+C stops it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from sdhd_studio.core.errors import SdhdError

_POLL_S = 0.05


class LockedError(SdhdError):
    """Another process holds the lock and we did not (or could no longer) wait."""


class FileLock:
    """An exclusive lock on `path` (created if missing), for work described by `what`.

    `acquire(wait=False)` refuses at once when another process holds it; `wait=True` polls,
    calling `on_wait(message)` once when it has to wait, until `timeout` seconds (None: for
    ever). Not re-entrant: one holder per FileLock object, one object per piece of work.
    """

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(
        self,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> FileLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this object")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockedError(f"cannot lock {self.path}: {exc.strerror}") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        try:
            while not _try_lock(fd):
                busy = f"{self.what} is busy in another process"
                if not wait:
                    raise LockedError(f"{busy}; try again when it has finished")
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockedError(f"{busy} (waited {timeout:g} s); try again later")
                if not told and on_wait is not None:
                    on_wait(f"{busy}; waiting for it to finish (Ctrl+C to give up)")
                told = True
                time.sleep(_POLL_S)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> FileLock:
        return self if self.held else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
