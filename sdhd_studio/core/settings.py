"""The render settings a keyframe can carry: names, types, ranges, defaults.

Backends declare which of these they use; only those enter a frame's recipe, so changing a
setting that a frame's backends ignore dirties nothing.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdhd_studio.core.errors import SettingError

# A weights file bigger than this is not a model a backend here can load; reading (hashing) it
# would only stall the plan. Devices and FIFOs are refused for the same reason.
MAX_MODEL_FILE_BYTES = 8 << 30
MAX_TEXT_LENGTH = 4000  # a prompt, a model id or a path; far more is a crafted document


@dataclass(frozen=True)
class SettingSpec:
    name: str
    kind: type  # str, int or float
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()  # a text setting with a fixed set of values
    names_model: bool = False  # the text may be a path to a weights file or model folder

    @property
    def numeric(self) -> bool:
        return self.kind in (int, float)

    def coerce(self, value: Any) -> Any:
        """Return `value` as this setting's type, or raise SettingError saying what is allowed.

        Text typed on a command line is parsed; values from a document must already have the
        right JSON type (a list is not a prompt, `true` is not a number).
        """
        out = self._typed(value)
        if self.numeric and (
            (self.minimum is not None and out < self.minimum)
            or (self.maximum is not None and out > self.maximum)
        ):
            raise SettingError(
                f"{self.name} must be between {self.minimum:g} and {self.maximum:g}"
                f"{' ' + self.unit if self.unit else ''}, got {out:g}"
            )
        if self.choices and out not in self.choices:
            raise SettingError(
                f"{self.name} must be one of {', '.join(self.choices)}, got {out!r}"
            )
        if self.names_model and out:
            _check_model_path(self.name, out)
        return out

    def _typed(self, value: Any) -> Any:
        if self.kind is str:
            if not isinstance(value, str):
                raise SettingError(f"{self.name} must be text, got {_shown(value)}")
            if len(value) > MAX_TEXT_LENGTH or "\0" in value:
                raise SettingError(f"{self.name} must be at most {MAX_TEXT_LENGTH} characters "
                                   "of text")
            return value
        what = "an integer" if self.kind is int else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SettingError(f"{self.name} must be {what}, got {_shown(value)}")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise SettingError(f"{self.name} must be {what}, got {_shown(value)}") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise SettingError(f"{self.name} must be a finite number, got {_shown(value)}")
        if self.kind is int:
            if isinstance(number, float) and not number.is_integer():
                raise SettingError(f"{self.name} must be {what}, got {_shown(value)}")
            return int(number)
        return float(number)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_model_path(name: str, value: str) -> None:
    """A model setting that names something on disk must name a weights file of sane size or
    a folder: reading a device or a FIFO would hang whoever hashes it."""
    try:
        info = os.stat(os.path.expanduser(value))
    except (OSError, ValueError):
        return  # a model name or hub id, or a file still to come: the backend judges it
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise SettingError(f"{name} {value!r} is not a regular file or folder")
    if info.st_size > MAX_MODEL_FILE_BYTES:
        raise SettingError(f"{name} {value!r} is {info.st_size / 2**30:.1f} GiB, more than any "
                           f"model file ({MAX_MODEL_FILE_BYTES >> 30} GiB)")


SETTINGS: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec("upscaler", str, "lanczos", help="backend that makes the HD frame"),
        SettingSpec("inpainter", str, "telea", help="backend that fills masked pixels"),
        SettingSpec("model", str, "", help="upscaler's model: a name, folder or hub id "
                    "(empty: the backend's default; see `sdhd models`)", names_model=True),
        SettingSpec("inpaint_model", str, "", help="inpainter's model: a folder or hub id "
                    "(empty: the backend's default)", names_model=True),
        SettingSpec("prompt", str, "", help="what the picture shows (diffusion backends)"),
        SettingSpec("negative_prompt", str, "", help="what to avoid (diffusion backends)"),
        SettingSpec("strength", float, 0.3, 0.0, 1.0, help="how far diffusion refining may move "
                    "away from the upscaled frame"),
        SettingSpec("inpaint_strength", float, 1.0, 0.0, 1.0, help="how far diffusion "
                    "inpainting may move away from what is under the mask (1: paint anew)"),
        SettingSpec("steps", int, 20, 1, 200, "steps", "denoising steps"),
        SettingSpec("guidance", float, 7.5, 0.0, 30.0, help="classifier-free guidance scale"),
        SettingSpec("noise_level", int, 20, 0, 350, help="noise added to the low-res input"),
        SettingSpec("seed", int, 0, 0, 2**32 - 1, help="random seed (same seed: less flicker)"),
        SettingSpec("sharpen", float, 0.0, 0.0, 2.0, help="unsharp-mask amount after upscaling"),
        SettingSpec("inpaint_radius", int, 3, 1, 50, "px", "neighbourhood classical fill uses"),
        SettingSpec("mode", str, "per-frame", help="per-frame: every frame through `upscaler`; "
                    "guided: keyframes through `upscaler`, the frames between them through "
                    "`fast_upscaler` plus the keyframes' detail carried by optical flow",
                    choices=("per-frame", "guided")),
        SettingSpec("fast_upscaler", str, "lanczos", help="guided mode: upscaler of the frames "
                    "between keyframes"),
        SettingSpec("interpolator", str, "dis", help="backend that makes in-between frames "
                    "for frame-rate conversion"),
        SettingSpec("interpolator_model", str, "", help="interpolator's weights: a file "
                    "(RIFE's flownet.pkl); empty: the models folder", names_model=True),
        SettingSpec("flow_scale", float, 0.5, 0.125, 1.0, help="optical flow is estimated at "
                    "this fraction of the frame size, then upsampled (lower: faster)"),
        SettingSpec("fill_frames", int, 8, 1, 30, "frames", "temporal fill: frames to look at "
                    "on each side for the pixels under the mask"),
    )
}

DEFAULTS: dict[str, Any] = {name: spec.default for name, spec in SETTINGS.items()}


def spec(name: str) -> SettingSpec:
    try:
        return SETTINGS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SETTINGS))
        raise SettingError(f"unknown setting {_shown(name)}; known settings: {known}") from None


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check names and coerce values; the result is safe to store in the project."""
    if not isinstance(values, Mapping):
        raise SettingError(f"settings must be a mapping of names to values, got {_shown(values)}")
    return {spec(name).name: spec(name).coerce(value) for name, value in values.items()}


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse `KEY=VALUE` as typed on a command line."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SettingError(f"expected KEY=VALUE, got {text!r}")
    name = name.strip().replace("-", "_")
    return name, spec(name).coerce(value)
