"""The project folder `NAME.sdhd/`: project.json (+ .bak), autosave.json, masks/, cache/, and
the two lock files.

Saves are atomic (temp file, fsync, rename) and keep the previous version as `.bak`, so a crash
or a full disk mid-save never leaves a project that cannot be opened. The editor writes unsaved
changes to `autosave.json` (atomically too); it is offered back on the next open when it is
newer than `project.json`.

Locks (see core/lock.py): `edit.lock` is held around each read-modify-write of project.json,
so edits from several processes all land; `render.lock` is held by the one render or export a
project may have at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from sdhd_studio.core.errors import ProjectError
from sdhd_studio.core.lock import FileLock
from sdhd_studio.core.project import Project, check_digest
from sdhd_studio.core.serialize import (
    SCHEMA_VERSION,
    InvalidDocument,
    project_from_dict,
    project_to_dict,
)

log = logging.getLogger(__name__)

SUFFIX = ".sdhd"
MAX_DOCUMENT_BYTES = 256 << 20  # a million keyframes fit; a crafted giant does not get read


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix.

    `durable` also survives power loss (fsync); without it the write survives a killed process.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class ProjectFolder:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()

    @property
    def project_file(self) -> Path:
        return self.path / "project.json"

    @property
    def backup_file(self) -> Path:
        return self.path / "project.json.bak"

    @property
    def autosave_file(self) -> Path:
        return self.path / "autosave.json"

    @property
    def masks_dir(self) -> Path:
        return self.path / "masks"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    def edit_lock(self) -> FileLock:
        """Held around one read-modify-write of project.json."""
        return FileLock(self.path / "edit.lock", f"project {self.path.name}")

    def render_lock(self) -> FileLock:
        """Held by the one render or export the project may have at a time."""
        return FileLock(self.path / "render.lock", f"a render or export of {self.path.name}")

    def stamp(self) -> str | None:
        """What identifies this version of project.json: a digest of its bytes (file times
        tick in milliseconds and inodes are reused, so two quick saves of the same length can
        look alike by their metadata); None when there is none."""
        try:
            return _digest(self.project_file.read_bytes())
        except OSError:
            return None

    @classmethod
    def create(cls, path: str | os.PathLike[str], project: Project) -> ProjectFolder:
        folder = cls(path)
        if folder.project_file.exists() or folder.backup_file.exists():
            raise ProjectError(f"a project already exists at {folder.path}")
        try:
            folder.masks_dir.mkdir(parents=True, exist_ok=True)
            folder.cache_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create {folder.path}: {exc.strerror}") from None
        with folder.edit_lock():
            if folder.project_file.exists():  # another process made it meanwhile
                raise ProjectError(f"a project already exists at {folder.path}")
            folder.save(project)
        return folder

    def save(self, project: Project) -> None:
        """Replace project.json; the caller holds `edit_lock()` when others may edit too."""
        text = self._encode(project)
        try:
            if self.project_file.exists():
                os.replace(self.project_file, self.backup_file)
            write_atomic(self.project_file, text)
        except OSError as exc:
            if not self.project_file.exists() and self.backup_file.exists():
                os.replace(self.backup_file, self.project_file)
            raise ProjectError(f"cannot save project to {self.path}: {exc.strerror}") from None

    def save_autosave(self, project: Project) -> None:
        """Keep unsaved changes safe from a crash without touching the saved project."""
        try:
            write_atomic(self.autosave_file, self._encode(project))
        except OSError as exc:
            raise ProjectError(f"cannot autosave to {self.path}: {exc.strerror}") from None

    def load_autosave(self) -> Project | None:
        """The autosaved project if it is newer than the saved one; None otherwise.

        An unreadable autosave is reported in the log and ignored: the saved project is intact.
        """
        try:
            newer = self.autosave_file.stat().st_mtime_ns > self.project_file.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if not newer:
            return None
        try:
            return self._read(self.autosave_file)[0]
        except Exception as exc:  # noqa: BLE001 - damaged autosave: fall back to the save
            log.warning("ignored the unreadable autosave %s (%s)", self.autosave_file,
                        _describe(exc))
            return None

    def discard_autosave(self) -> None:
        self.autosave_file.unlink(missing_ok=True)

    def copy_to(self, path: str | os.PathLike[str], project: Project) -> ProjectFolder:
        """Save `project` as a new project folder at `path`, with this folder's masks.

        The frame cache is the render layer's to copy (`FrameCache.copy_to`).
        """
        target = ProjectFolder(path)
        if target.path == self.path:
            raise ProjectError(f"{target.path} is this project's own folder")
        if target.path.exists() and any(target.path.iterdir()):
            raise ProjectError(f"{target.path} already exists and is not empty")
        try:
            shutil.copytree(self.masks_dir, target.masks_dir, dirs_exist_ok=True)
            target.cache_dir.mkdir(exist_ok=True)
        except (OSError, shutil.Error) as exc:
            shutil.rmtree(target.path, ignore_errors=True)
            raise ProjectError(f"cannot create {target.path}: {exc}") from None
        target.save(project)
        return target

    def _encode(self, project: Project) -> bytes:
        data = project_to_dict(project)
        with contextlib.suppress(ValueError):
            data["source"]["relative_path"] = os.path.relpath(project.source.path, self.path)
        return json.dumps(data, indent=1, sort_keys=True).encode()

    def load(self) -> Project:
        return self.load_versioned()[0]

    def load_versioned(self) -> tuple[Project, str | None]:
        """The project and the `stamp()` of the bytes it was read from: None when it came
        from the backup, so that whoever compares stamps reads project.json again."""
        if not self.path.is_dir():
            raise ProjectError(f"no project folder at {self.path}")
        if not self.project_file.exists() and not self.backup_file.exists():
            # Any other folder: a DVD's VIDEO_TS given to `sdhd info`, say.
            raise ProjectError(f"{self.path} is not a project (it has no project.json); "
                               "`sdhd new` makes one from a video or a DVD folder")
        try:
            return self._read(self.project_file)
        except ProjectError:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage means: try the backup
            reason = _describe(exc)
        if not self.backup_file.exists():
            raise ProjectError(f"{self.project_file} is unreadable ({reason}) and has no backup")
        log.warning("%s is unreadable (%s); opened the backup %s instead",
                    self.project_file, reason, self.backup_file.name)
        try:
            return self._read(self.backup_file)[0], None
        except ProjectError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ProjectError(
                f"{self.project_file} and its backup are both unreadable ({_describe(exc)})"
            ) from None

    def _read(self, path: Path) -> tuple[Project, str]:
        # A device or a FIFO in its place would never end (a FIFO not even its opening).
        if not path.is_file() and path.exists():
            raise InvalidDocument("not a project document (a regular file)")
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_DOCUMENT_BYTES:
                raise InvalidDocument(f"not a project document (a file of at most "
                                      f"{MAX_DOCUMENT_BYTES >> 20} MB)")
            raw = fh.read()
        data = json.loads(raw)
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise InvalidDocument("no schema version")
        if schema > SCHEMA_VERSION:
            raise ProjectError(
                f"{path} was saved by a newer SDHD Studio (schema {schema}; this version reads "
                f"up to {SCHEMA_VERSION}); upgrade SDHD Studio to open it"
            )
        project = project_from_dict(data)
        src = project.source
        relative = data["source"].get("relative_path")
        if not os.path.exists(src.path) and isinstance(relative, str) \
                and (self.path / relative).exists():
            # The project and its video moved together: follow them.
            project = dataclasses.replace(
                project, source=dataclasses.replace(src, path=str((self.path / relative).resolve()))
            )
        return project, _digest(raw)

    def mask_path(self, digest: str) -> Path:
        """Where the mask `digest` is stored; only a sha256 digest names a file here."""
        return self.masks_dir / f"{check_digest(digest)}.png"

    def store_mask(self, png: bytes) -> str:
        """Store mask PNG bytes under their content digest; returns the digest."""
        digest = hashlib.sha256(png).hexdigest()
        path = self.mask_path(digest)
        if not path.exists():
            self.masks_dir.mkdir(parents=True, exist_ok=True)
            try:
                write_atomic(path, png)
            except OSError as exc:
                raise ProjectError(f"cannot store mask: {exc.strerror}") from None
        return digest


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def project_folder_holding(path: str | os.PathLike[str]) -> Path | None:
    """The project folder `path` is, or lies inside, if any (links resolved): where an output
    file must never go, since it could replace the project's own files."""
    resolved = Path(path).resolve()
    for folder in (resolved, *resolved.parents):
        if folder.suffix == SUFFIX or ((folder / "project.json").is_file() \
                                       and (folder / "cache").is_dir()):
            return folder
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}"
    if isinstance(exc, InvalidDocument):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return f"{type(exc).__name__}: {exc}"
