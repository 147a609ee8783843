"""Another process holding a project's render lock, as a second `sdhd render` would."""

import subprocess
import sys

_HOLD = """
import sys, time
from sdhd_studio.render.session import Session
with Session.open(sys.argv[1]).exclusive():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_render_lock(project, seconds: float) -> subprocess.Popen:
    """A process that holds `project`'s render lock for `seconds`; returns once it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(project), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder
