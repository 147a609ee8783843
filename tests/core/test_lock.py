import subprocess
import sys
import time

import pytest

from sdhd_studio.core.lock import FileLock, LockedError

HOLD = """
import sys, time
from sdhd_studio.core.lock import FileLock
with FileLock(sys.argv[1], "the test project"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_in_child(path, seconds):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_is_refused_or_waits(tmp_path):
    path = tmp_path / "x.lock"
    child = hold_in_child(path, 1.0)
    try:
        with pytest.raises(LockedError, match="the test project is busy in another process"):
            FileLock(path, "the test project").acquire(wait=False)
        with pytest.raises(LockedError, match="waited 0.1 s"):
            FileLock(path, "the test project").acquire(timeout=0.1)
        said = []
        lock = FileLock(path, "the test project").acquire(on_wait=said.append)
        assert len(said) == 1 and "waiting for it to finish" in said[0]
        lock.release()
    finally:
        child.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "x.lock"
    child = hold_in_child(path, 60)
    child.kill()
    child.wait()
    start = time.monotonic()
    with FileLock(path, "it").acquire(wait=False):
        pass
    assert time.monotonic() - start < 1
