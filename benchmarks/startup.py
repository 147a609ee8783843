"""Start-up of the editor and the CLI: the pip install beside frozen builds, in one run.

For each install, the median wall time of
  - `sdhd --version` (interpreter or bootloader start, nothing else), and
  - `sdhd-studio --screenshot OUT.png SAMPLE`: window shown, first frame painted, compute
    device found by the child process, PNG written, exit. The pip install's child imports
    torch to find the device; a lite build has none to import.
Run from the repository root: python benchmarks/startup.py [--runs 3] [BUILD_DIR ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples" / "bbb_sd.mp4"


def _seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="*", type=Path, help="frozen build folders (dist/...)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    installs = {"pip install": ([sys.executable, "-m", "sdhd_studio.cli.main"],
                                [sys.executable, "-m", "sdhd_studio.gui.app"], dict(os.environ))}
    for build in args.builds:
        # As a user without Python runs it: nothing of this environment leaks in.
        env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
        installs[build.name] = ([str(build / "sdhd")], [str(build / "sdhd-studio")], env)
    with tempfile.TemporaryDirectory() as tmp:
        shot, video = str(Path(tmp) / "shot.png"), Path(tmp) / "sample.mp4"
        shutil.copyfile(SAMPLE, video)  # the editor makes its project beside the video
        print(f"{'install':28} {'sdhd --version':>16} {'editor screenshot':>18}   (median of "
              f"{args.runs})")
        for name, (cli, gui, env) in installs.items():
            env = {**env, "QT_QPA_PLATFORM": "offscreen"}
            version = [_seconds([*cli, "--version"], env) for _ in range(args.runs)]
            editor = []
            for _ in range(args.runs):
                # A project left by the previous run would be a different start (and a
                # question the editor asks before it paints).
                shutil.rmtree(video.with_suffix(".sdhd"), ignore_errors=True)
                editor.append(_seconds([*gui, "--screenshot", shot, str(video)], env))
            print(f"{name:28} {statistics.median(version):15.2f}s "
                  f"{statistics.median(editor):17.2f}s   (editor {min(editor):.2f}-"
                  f"{max(editor):.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
