"""The `model` upscaler: a community super-resolution or restoration model file (.pth, .pt,
.safetensors, .ckpt), given as `--set model=PATH` or found in the models folder's upscalers/.

Files are read safely (`weights.read_tensors`: safetensors, or plain tensors from a pickle,
never code). With spandrel installed (`pip install "sdhd-studio[community]"`) it recognises
the architecture, so everything spandrel knows loads (GRL, RGT, DRCT, ATD, ...),
and the file's scale, half-precision support, size requirements and tiling advice come from
its descriptor. Without it, the families sdhd builds itself load: ESRGAN in its three key
layouts and x1-x8 (`realesrgan_nets`), Real-ESRGAN Compact, SPAN (`nets/span.py`),
Real-CUGAN (`nets/realcugan.py`), PLKSR and RealPLKSR (`nets/plksr.py`), and the
transformers SwinIR, HAT, DAT and OmniSR (`nets/swinir.py`, `hat.py`, `dat.py`, `omnisr.py`).

Each tile is padded (reflected) up to the size the net needs and the result cropped back;
the net's own scale is then resized to exactly the asked size, as the other learned upscalers.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core import build
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets, tiles
from sdhd_studio.ml.classical import to_size
from sdhd_studio.ml.models import Location, ModelInfo, register_finder, user_models_dir
from sdhd_studio.ml.nets import dat, hat, omnisr, plksr, realcugan, span, swinir
from sdhd_studio.ml.realesrgan import MAX_TILE, device_kind
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.torch_net import TorchImageNet
from sdhd_studio.ml.upscale.compact import NETS as OWN_NETS
from sdhd_studio.ml.weights import Shape, file_digest, read_shapes, read_tensors, state_dict

log = logging.getLogger(__name__)

NAME = "model"
SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt")
BUILT_IN = ("ESRGAN (x1-x8, old and new layouts), Real-ESRGAN Compact, SPAN, Real-CUGAN, "
            "PLKSR, RealPLKSR, SwinIR, HAT, DAT and OmniSR")
OVERLAP = 16  # input pixels shared by neighbouring tiles, as for Real-ESRGAN
MIN_TILE = 64


@dataclass(frozen=True)
class Facts:
    """What running a file's net needs to know, from its descriptor or its shapes."""

    family: str
    scale: int
    half: bool = True  # may run in fp16
    multiple_of: int = 1  # each side of the input a multiple of this
    minimum: int = 0  # each side at least this
    square: bool = False
    whole: bool = False  # tiling harms it (it needs the whole picture): one piece if it fits

    @property
    def label(self) -> str:
        return f"{self.family} ×{self.scale}"

    @property
    def light(self) -> bool:
        """Small at low resolution: tiles as large as Real-ESRGAN's compact net takes. Others
        (ESRGAN, transformers, anything else spandrel brings) get RRDBNet's."""
        return self.family in ("RealESRGAN Compact", "SPAN")

    def padded(self, height: int, width: int) -> tuple[int, int]:
        """The input size to run a height x width tile at."""
        def side(n: int) -> int:
            n = max(n, self.minimum)
            return -(-n // self.multiple_of) * self.multiple_of

        height, width = side(height), side(width)
        return (max(height, width),) * 2 if self.square else (height, width)


def models_folder() -> Path:
    """Where the editor and `sdhd models` look for community upscalers."""
    return user_models_dir() / "upscalers"


def _is_model_file(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _suffixes() -> str:
    return ", ".join(SUFFIXES[:-1]) + f" or {SUFFIXES[-1]}"


def identify(path: Path) -> Facts:
    """What the file at `path` holds; BackendError in one line when it is nothing sdhd (or
    spandrel, when installed) can run. Cached per path, size and modification time: the
    families sdhd builds itself cost only the file's header or tensor shapes."""
    try:
        stat = path.stat()
    except OSError:
        raise BackendError(f"no weights file {path}") from None
    return _identify(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _identify(path: str, size: int, mtime_ns: int) -> Facts:
    shapes, metadata = read_shapes(Path(path))
    try:
        return _built_in(shapes, metadata, path)[0]
    except _NotBuiltIn as exc:
        if _spandrel() is None:
            raise BackendError(f"{exc}; {_more()}") from None
    return _from_spandrel(state_dict(read_tensors(Path(path)), path), path)[0]


class _NotBuiltIn(BackendError):
    """Not a family sdhd builds itself (spandrel may still know it)."""


def _built_in(
    shapes: Mapping[str, Shape], metadata: Mapping[str, str], source: str
) -> tuple[Facts, Callable[[Mapping[str, Any]], Any]]:
    """The facts of a family sdhd builds itself, and a function making the loaded module
    from the file's state dict."""
    _refuse_own_net(metadata, source)
    try:
        if span.is_span(shapes):
            arch = span.arch_of(shapes, source)
            return Facts("SPAN", arch.scale), functools.partial(_span_module, arch)
        if plksr.is_plksr(shapes):
            large = plksr.arch_of(shapes, source)
            # fp32 for RealPLKSR with group norms, as spandrel keeps it.
            facts = Facts(large.family, large.scale, half=not large.real or large.layer_norm)
            return facts, functools.partial(_plksr_module, large)
        if hat.is_hat(shapes):  # HAT and SwinIR before ESRGAN: all begin with conv_first
            hybrid = hat.arch_of(shapes, source)
            # fp32, as spandrel keeps it; the net pads itself to whole windows.
            facts = Facts("HAT", hybrid.scale, half=False)
            return facts, functools.partial(_module, hat, hybrid)
        if dat.is_dat(shapes):
            dual = dat.arch_of(shapes, source)  # fp32, as spandrel keeps it; any size runs
            return Facts("DAT", dual.scale, half=False), functools.partial(
                _module, dat, dual)
        if swinir.is_swinir(shapes):
            swin = swinir.arch_of(shapes, source)
            # fp32: spandrel, too, keeps SwinIR from fp16. The net pads itself to whole
            # windows, so a tile need only be as large as one.
            facts = Facts("SwinIR", swin.scale, half=False, minimum=swin.window)
            return facts, functools.partial(_module, swinir, swin)
        if omnisr.is_omnisr(shapes):
            omni = omnisr.arch_of(shapes, source)  # pads itself to whole windows
            return Facts("OmniSR", omni.scale), functools.partial(_module, omnisr,
                                                                  omni)
        if realcugan.is_realcugan(shapes):
            cugan = realcugan.arch_of(shapes, source)
            facts = Facts("RealCUGAN", cugan.scale, minimum=realcugan.MINIMUM)
            return facts, functools.partial(_module, realcugan, cugan)
        modern = realesrgan_nets.modern_keys(shapes)
        if "conv_first.weight" in modern or len(modern.get("body.0.weight", ())) == 4:
            esrgan = realesrgan_nets.arch_of(modern, source)
            facts = Facts(esrgan.family, esrgan.scale, multiple_of=esrgan.unshuffle)
            return facts, functools.partial(_esrgan_module, esrgan)
    except BackendError as exc:  # shaped like a family, but not quite
        raise _NotBuiltIn(str(exc)) from None
    raise _NotBuiltIn(f"{source}: not an architecture sdhd knows")


def _refuse_own_net(metadata: Mapping[str, str], source: str) -> None:
    kind = metadata.get("kind", "")
    if kind in OWN_NETS:  # shaped like a Compact x2, but its base is bilinear, not nearest
        raise BackendError(f"{source} is sdhd's own {kind} net: use --upscaler {kind}")


def _more() -> str:
    why = _spandrel_problem()
    return f"sdhd loads {BUILT_IN}; spandrel loads many more ({why})"


def _esrgan_module(arch: realesrgan_nets.Arch, state: Mapping[str, Any]) -> Any:
    module = realesrgan_nets.build(arch)
    module.load_state_dict(realesrgan_nets.modern_keys(state))
    return module


def _span_module(arch: span.Arch, state: Mapping[str, Any]) -> Any:
    module = span.build(arch)
    module.load_state_dict(state)
    module.fuse()  # in fp32, before any conversion to fp16
    return module


def _plksr_module(arch: plksr.Arch, state: Mapping[str, Any]) -> Any:
    module = plksr.build(arch)
    module.load_state_dict(state)
    return module


def _module(family: Any, arch: Any, state: Mapping[str, Any]) -> Any:
    """A HAT, DAT, SwinIR or OmniSR module (`family`'s) with the file's weights, less the buffers
    it makes itself for the picture at hand."""
    module = family.build(arch)
    module.load_state_dict(family.without_extras(state))
    return module


@functools.cache
def _spandrel() -> Any:
    """The spandrel module, or None when it is not installed or does not import."""
    if importlib.util.find_spec("spandrel") is None:
        return None
    try:
        return importlib.import_module("spandrel")
    except Exception as exc:  # e.g. a torchvision built for another torch
        log.warning("spandrel is installed but does not import: %s: %s",
                    type(exc).__name__, exc)
        return None


def _spandrel_problem() -> str:
    if importlib.util.find_spec("spandrel") is None:
        return 'pip install "sdhd-studio[community]"'
    return "spandrel is installed but does not import here; see the log"


def _from_spandrel(state: Mapping[str, Any], source: str) -> tuple[Facts, Any]:
    """Facts and module from spandrel's descriptor of the state dict."""
    spandrel = _spandrel()
    try:
        model = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise BackendError(f"{source}: an architecture neither sdhd nor spandrel knows") from None
    except Exception as exc:  # a known architecture whose weights do not fit it
        raise BackendError(f"spandrel cannot load {source}: {_brief(exc)}") from None
    name = model.architecture.name
    if not isinstance(model, spandrel.ImageModelDescriptor) or model.purpose not in (
        "SR", "Restoration"
    ):
        raise BackendError(f"{source}: a {name} {model.purpose} model, not super-resolution "
                           "or restoration of whole pictures")
    if (model.input_channels, model.output_channels) != (3, 3):
        raise BackendError(f"{source}: {name} maps {model.input_channels} channels to "
                           f"{model.output_channels}; only RGB models run here")
    need = model.size_requirements
    facts = Facts(name, model.scale, model.supports_half, need.multiple_of, need.minimum,
                  need.square, whole=model.tiling != spandrel.ModelTiling.SUPPORTED)
    return facts, model.model


def _load(path: Path, device: str) -> _Net:
    """The file's net on `device`: through spandrel when it imports, else built here."""
    source = str(path)
    _, metadata = read_shapes(path) if path.suffix.lower() == ".safetensors" else ({}, {})
    _refuse_own_net(metadata, source)
    state = state_dict(read_tensors(path), source)
    if _spandrel() is not None:
        facts, module = _from_spandrel(state, source)
    else:
        shapes = {key: tuple(getattr(value, "shape", ())) for key, value in state.items()}
        try:
            facts, make = _built_in(shapes, metadata, source)
        except _NotBuiltIn as exc:
            raise BackendError(f"{exc}; {_more()}") from None
        try:
            module = make(state)
        except RuntimeError as exc:  # load_state_dict: a tensor of another dtype or layout
            raise BackendError(f"{source}: {_brief(exc)}") from None
    return _Net(facts, module, device)


def _brief(exc: BaseException) -> str:
    """An exception in one line: torch puts the detail of a failed load on its second."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {' '.join(lines[:2]) or 'no details'}"
    return text if len(text) <= 300 else text[:297] + "..."


class _Net:
    """A loaded net as the tiler calls it: each tile padded (reflected) to what the net
    accepts, the result cropped back to the tile times the scale."""

    def __init__(self, facts: Facts, module: Any, device: str) -> None:
        self.facts, self.device = facts, device
        self.run = TorchImageNet(module, device, half=facts.half)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        height, width = tile.shape[:2]
        padded = self.facts.padded(height, width)
        if padded != (height, width):
            pad = ((0, padded[0] - height), (0, padded[1] - width), (0, 0))
            tile = np.pad(tile, pad, mode="reflect" if min(height, width) > 1 else "edge")
        scale = self.facts.scale
        return self.run(tile)[: height * scale, : width * scale]


class CommunityUpscaler:
    """Upscales with the file the `model` setting names, keeping each file's net once loaded
    (a file replaced at the same path is loaded again)."""

    def __init__(self, runtime: Runtime) -> None:
        from sdhd_studio.ml.devices import pick_device

        self.runtime = runtime
        self.device = pick_device(runtime.device).name
        self._nets: dict[str, tuple[tuple[int, int], _Net]] = {}  # path: ((size, mtime), net)

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        net = self.net(str(settings.get("model", "")))
        image = np.ascontiguousarray(image)
        weight = "srvgg" if net.facts.light else "rrdb"
        limit = self.runtime.tile or (
            max(image.shape[:2]) if net.facts.whole else MAX_TILE[(device_kind(net.device), weight)]
        )
        big = tiles.run_fitted(image, net.facts.scale, limit, OVERLAP, net, cancel, net.device,
                               NAME, MIN_TILE)
        return to_size(big, size, settings, cancel)

    def net(self, model: str) -> _Net:
        """The loaded net of the file `model` names."""
        if not model:
            raise BackendError(_NO_MODEL)
        path = Path(model).expanduser()
        try:
            stat = path.stat()
        except OSError:
            raise BackendError(f"no weights file {path}") from None
        stamp = (stat.st_size, stat.st_mtime_ns)
        if str(path) not in self._nets or self._nets[str(path)][0] != stamp:
            self._nets[str(path)] = (stamp, _load(path, self.device))  # the old one goes
        return self._nets[str(path)][1]


_NO_MODEL = f"needs a model file: --set model=PATH (a {_suffixes()} file)"


def unknown_model(settings: Mapping[str, Any]) -> str | None:
    """Why `model` names no file this backend could ever run (the wrong kind of file, or one
    whose architecture is unknown), or None; a file still to come is judged when it is there."""
    model = str(settings.get("model", ""))
    if not model:
        return None
    path = Path(model).expanduser()
    if not _is_model_file(path):
        return f"model {model!r} is not a {_suffixes()} file"
    if not path.is_file() or (path.suffix.lower() != ".safetensors" and build.missing("torch")):
        return None
    try:
        identify(path)
    except BackendError as exc:
        return str(exc)
    return None


def check(settings: Mapping[str, Any]) -> str | None:
    """Why `model` cannot run with these settings here, or None."""
    model = str(settings.get("model", ""))
    if not model:
        return _NO_MODEL
    if missing := build.missing("torch"):
        return f"loading a model file {missing}"
    if problem := unknown_model(settings):
        return problem
    path = Path(model).expanduser()
    return None if path.is_file() else f"no weights file {path}"


def weights_digest(settings: Mapping[str, Any]) -> str | None:
    model = str(settings.get("model", ""))
    return file_digest(Path(model).expanduser()) if model else None


@dataclass(frozen=True)
class Found:
    """A model file in the models folder: its name, and its family and scale or why not."""

    path: Path
    label: str  # "4x-UltraSharp — ESRGAN ×4"
    problem: str | None = None


def found_models() -> list[Found]:
    """The model files in `models_folder()`, each named by its family and scale as far as
    its shapes tell (a file only spandrel knows is named when it loads)."""
    folder = models_folder()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(p for p in folder.iterdir() if _is_model_file(p) and p.is_file()):
        stat = path.stat()
        label, problem = _describe(str(path), stat.st_size, stat.st_mtime_ns)
        found.append(Found(path, f"{path.stem} — {label}", problem))
    return found


@functools.lru_cache(maxsize=256)
def _describe(path: str, size: int, mtime_ns: int) -> tuple[str, str | None]:
    """(family and scale, or a word; why it cannot run, or None), from the shapes only."""
    try:
        shapes, metadata = read_shapes(Path(path))
        return _built_in(shapes, metadata, path)[0].label, None
    except _NotBuiltIn as exc:
        if _spandrel() is not None:
            return "for spandrel", None
        return "unknown", f"{exc}; {_more()}"
    except BackendError as exc:
        return "unusable", str(exc)


def _catalogue_entries() -> list[ModelInfo]:
    entries = []
    for model in found_models():
        size = model.path.stat().st_size
        where = model.problem or model.label.split(" — ", 1)[1]
        location = Location(True, where, model.path, size)
        entries.append(ModelInfo(
            str(model.path), (NAME,), "file",
            f"{model.label}: a community model in the models folder",
            lambda location=location: location,
        ))
    return entries


register_finder(_catalogue_entries)
register(BackendSpec(
    NAME, "upscale", "1", frozenset({"model", "sharpen"}),
    CommunityUpscaler,
    thread_safe=False,
    description=f"a community super-resolution or restoration model file ({_suffixes()}) "
                f"given as model=PATH or found in the models folder's upscalers/; sdhd loads "
                f"{BUILT_IN}, "
                "spandrel (pip install \"sdhd-studio[community]\") many more",
    check=check,
    weights=weights_digest,
    unknown_model=unknown_model,
))
