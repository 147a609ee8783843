"""Which SDHD Studio this is: its version and, for a frozen app, its flavour.

A pip install has every package pyproject.toml names. A frozen build (packaging/build.py) may
leave some out on purpose: the `lite` flavour has no torch, so the backends that need it say
that the build lacks it rather than that someone forgot to install it. The build writes
`build.json` beside this module; a pip install has none.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

from sdhd_studio import __version__

BUILD_INFO = Path(__file__).with_name("build.json")


@functools.cache
def flavour() -> str | None:
    """"lite" or "full" in a frozen build, None in a pip install."""
    try:
        return str(json.loads(BUILD_INFO.read_text(encoding="utf-8"))["flavour"])
    except OSError:
        return None


def version_text() -> str:
    """The version as a user reads it: "0.1.0", or "0.1.0 (lite build)" in a frozen app."""
    return __version__ + (f" ({flavour()} build)" if flavour() else "")


def missing(*packages: str) -> str | None:
    """Why code that imports `packages` cannot run here (a phrase that follows a subject:
    "needs torch, which ..."), or None when all of them can be imported. Imports nothing."""
    absent = [name for name in packages if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    names = " and ".join(absent)
    if flavour():
        return (f"needs {names}, which the {flavour()} build of SDHD Studio leaves out "
                "(the full build or a pip install has it)")
    verb = "is" if len(absent) == 1 else "are"
    return f"needs {names}, which {verb} not installed (pip install {' '.join(absent)})"
