"""One writer per output path: a second one, in another process or this one, is refused at once."""

import os
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from sdhd_studio.core.errors import ExportError
from sdhd_studio.media.probe import probe
from sdhd_studio.media.writer import VideoWriter

# Writes one frame, says so, waits for a line on stdin, then writes 9 more and finishes.
_HOLDER = textwrap.dedent("""
    import sys
    import numpy as np
    from sdhd_studio.media.writer import VideoWriter
    with VideoWriter(sys.argv[1], 64, 48, 25, preset="ultrafast") as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        print("writing", flush=True)
        sys.stdin.readline()
        for _ in range(9):
            writer.write(np.full((48, 64, 3), 200, np.uint8))
    print("done", flush=True)
""")


def _write(path, frames):
    with VideoWriter(str(path), 64, 48, Fraction(25), preset="ultrafast") as writer:
        for _ in range(frames):
            writer.write(np.zeros((48, 64, 3), np.uint8))


def test_a_second_process_writing_the_same_output_is_refused(tmp_path):
    out = tmp_path / "out.mkv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert holder.stdout.readline() == "writing\n"
        with pytest.raises(ExportError, match=f"^{out} is being written by another export; "):
            _write(out, 3)
        assert not out.exists()  # the refusal touched nothing of the other export's
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "done\n"
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    assert probe(str(out)).frame_count == 10  # the first writer's file, whole
    assert sorted(os.listdir(tmp_path)) == ["out.mkv"]  # no lock file, no temps
    _write(out, 3)  # free again once it finished
    assert probe(str(out)).frame_count == 3


def test_two_writers_in_one_process_cannot_both_write(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(str(out), 64, 48, Fraction(25), preset="ultrafast") as first:
        with pytest.raises(ExportError, match="being written by another export"):
            VideoWriter(str(out), 64, 48, Fraction(25))
        first.write(np.zeros((48, 64, 3), np.uint8))
    # Another name in the same folder is another lock; the same stem with another extension too.
    _write(tmp_path / "out.mkv", 2)
    assert sorted(os.listdir(tmp_path)) == ["out.mkv", "out.mp4"]


def test_what_a_killed_export_left_is_cleared_by_the_next(tmp_path):
    out = tmp_path / "out.mp4"
    for leftover in (".out.mp4.lock", ".out.mp4.partial", ".out.mp4.partial-video"):
        (tmp_path / leftover).write_bytes(b"half a video")
    _write(out, 4)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]
    assert probe(str(out)).frame_count == 4


def test_a_failed_export_leaves_the_path_free(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(str(out), 64, 48, 25) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise KeyboardInterrupt
    assert writer._proc.poll() is not None  # ffmpeg was stopped, not left running
    assert os.listdir(tmp_path) == []
    _write(out, 2)
    assert probe(str(out)).frame_count == 2
