"""How a render asks its learned backends to run: on which device, in tiles of what size.

These choices belong to the machine and the render, not to the project: a frame rendered on the
CPU is the same frame when the project is opened on a GPU machine, so none of this enters a
recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.devices import PREFERENCES


@dataclass(frozen=True)
class Runtime:
    device: str = "auto"  # a preference from devices.PREFERENCES; resolved by pick_device
    tile: int = 0  # largest tile side in input pixels; 0 lets each backend choose

    def __post_init__(self) -> None:
        if self.device not in PREFERENCES:
            raise BackendError(
                f"unknown device {self.device!r}; use one of {', '.join(PREFERENCES)}"
            )
        if self.tile and not 32 <= self.tile <= 4096:
            raise BackendError(f"tile size must be 0 (automatic) or 32-4096 px, got {self.tile}")
