"""The working project of `sdhd upscale`: made for the run, resumed after a failed one, and
never anybody else's folder removed.

A project `upscale` makes carries `upscale.json`, the options it was made for. A later upscale
resumes it only with the same options (a crash or Ctrl+C keeps the frames done); with other
options it is reported, not silently reused with settings the user did not ask for again. A
project the user made (no such file) is resumed when it is of the same video, keeps the user's
settings unless options change them, and is never removed. Removing a finished working project
deletes only the files a project consists of, so a file the user put there survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import SdhdError
from sdhd_studio.core.folder import ProjectFolder, write_atomic
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.core.settings import DEFAULTS
from sdhd_studio.ml import registry
from sdhd_studio.render.session import Session

MARK = "upscale.json"
# What a project folder consists of; nothing else in it is ever removed.
_FILES = ("project.json", "project.json.bak", "autosave.json", "edit.lock", "render.lock", MARK)
_FOLDERS = ("masks", "cache")


@dataclass
class UpscaleProject:
    session: Session
    created: bool  # made by this run
    owned: bool  # made by `sdhd upscale` (this run or an earlier one): removed when done
    resumed: str | None  # what to tell the user when an existing project was taken up

    @classmethod
    def take(
        cls,
        source: str | os.PathLike[str],
        path: str | os.PathLike[str],
        settings: Mapping[str, Any],
        output: Mapping[str, Any],
        keyframe_every: int | None,
        conditioning: Mapping[str, str],
        cancel: CancelToken | None = None,
    ) -> UpscaleProject:
        """The project to upscale `source` in at `path`: resumed, or made (with `output`
        changes and `settings` over the defaults, its frames made by `conditioning`)."""
        folder = ProjectFolder(path)
        options = {"settings": dict(settings), "output": {k: str(v) for k, v in output.items()},
                   "keyframe_every": keyframe_every, "conditioning": dict(conditioning)}
        if folder.project_file.exists() or folder.backup_file.exists():
            return cls._resume(folder, Path(source), options, settings, output)
        if folder.path.exists() and (not folder.path.is_dir() or any(folder.path.iterdir())):
            raise SdhdError(f"{folder.path} exists and is not an SDHD project; pass --project "
                            "with a new folder")
        # A backend that cannot run here would fail at frame 0 and leave the working project
        # behind, in the way of the next try with other options.
        chosen = {**DEFAULTS, **settings}
        registry.require_usable("upscale", chosen["upscaler"], chosen)
        made_folder = not folder.path.exists()
        session = Session.create(source, folder.path, output=OutputSettings().changed(**output),
                                 settings=settings, conditioning=conditioning, cancel=cancel)
        write_atomic(folder.path / MARK,
                     json.dumps({"options": options, "made_folder": made_folder}).encode())
        return cls(session, created=True, owned=True, resumed=None)

    @classmethod
    def _resume(
        cls,
        folder: ProjectFolder,
        source: Path,
        options: dict[str, Any],
        settings: Mapping[str, Any],
        output: Mapping[str, Any],
    ) -> UpscaleProject:
        session = Session.open(folder.path)
        if Path(session.project.source.path).resolve() != source.resolve():
            raise SdhdError(f"{folder.path} is the project of another video "
                            f"({session.project.source.path}); pass --project PATH")
        mark = _read_mark(folder)
        if mark is not None and mark["options"] != options:
            raise SdhdError(
                f"{folder.path} was left by an earlier `sdhd upscale` with other options "
                f"({_difference(mark['options'], options)}): run it again with those to "
                "resume, remove that folder, or pass --project NEW"
            )
        if mark is None:  # the user's own project: what they typed now changes it
            made = session.project.source.info.conditioning
            for name, value in options["conditioning"].items():
                if getattr(made, name) != value:  # its frames are other frames
                    raise SdhdError(
                        f"{folder.path} was made with --{name.replace('_', '-')} "
                        f"{getattr(made, name)}; pass another --project to use {value}"
                    )
            if output:
                session.edit("Output", edits.set_output, **output)
            if settings:
                session.edit("Settings", edits.set_defaults, settings)
        status = session.status()
        done = status.counts()["done"]
        whose = "" if mark is not None else "your project "
        return cls(session, created=False, owned=mark is not None,
                   resumed=f"resuming {whose}{folder.path.name}: {done} of {len(status)} "
                           "frames done")

    def remove(self) -> None:
        """Remove a working project `sdhd upscale` made, and only the files it consists of."""
        if not self.owned:
            return
        root = self.session.folder.path
        mark = _read_mark(self.session.folder) or {}
        for name in _FOLDERS:
            path = root / name
            if path.is_symlink():
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)
        for name in _FILES:
            (root / name).unlink(missing_ok=True)
        if mark.get("made_folder"):
            with contextlib.suppress(OSError):  # not empty: the user's files stay, and it
                root.rmdir()


def _read_mark(folder: ProjectFolder) -> dict[str, Any] | None:
    try:
        mark = json.loads((folder.path / MARK).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        mark = None
    if not isinstance(mark, dict) or not isinstance(mark.get("options"), dict):
        raise SdhdError(f"{folder.path / MARK} is damaged; remove {folder.path} to start over")
    return mark


def _difference(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The options that differ, as `name: then -> now`, for the message."""
    def flat(options: Mapping[str, Any]) -> dict[str, Any]:
        out = {f"--set {k}": v for k, v in options["settings"].items()}
        out.update({f"--{k.replace('_', '-')}": v for k, v in options["output"].items()})
        out["--keyframe-every"] = options["keyframe_every"]
        out.update({f"--{k.replace('_', '-')}": v
                    for k, v in options.get("conditioning", {}).items()})
        return out

    a, b = flat(before), flat(now)
    return ", ".join(f"{name}: {a.get(name, 'not given')} then, {b.get(name, 'not given')} now"
                     for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name))
