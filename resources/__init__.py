"""Data files that ship inside the package as `sdhd_studio.resources`.

Kept at the repository's top level for people browsing the source; `pyproject.toml` maps the
folder into the package. This file makes it a regular package, so editable installs find it too.
"""

from importlib.resources import files
from pathlib import Path


def sample_video() -> Path:
    """The bundled SD sample: 5 s of Big Buck Bunny at 640x360 with its audio."""
    return Path(str(files(__name__) / "samples" / "bbb_sd.mp4"))
