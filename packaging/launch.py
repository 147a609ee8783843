"""The frozen app's one entry script: `sdhd` runs the command line, `sdhd-studio` the editor.

Both executables of a build are this script under two names (pip installs the same two entry
points from pyproject.toml), so they share one copy of every library in the folder.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # A child started by multiprocessing (the editor asks for the compute device in one) is
    # this executable again with --multiprocessing-fork: it must run the child's work and stop
    # before anything parses the arguments.
    multiprocessing.freeze_support()
    name = os.path.splitext(os.path.basename(sys.executable))[0].lower()
    if name == "sdhd-studio":
        from sdhd_studio.gui.app import main
    else:
        from sdhd_studio.cli.main import main
    raise SystemExit(main())
