"""What a render reports while it runs. Events are small immutable values; the GUI turns them
into Qt signals, the CLI into a progress bar."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameQueued:
    index: int
    key: str


@dataclass(frozen=True)
class FrameStarted:
    index: int
    key: str


@dataclass(frozen=True)
class FrameDone:
    index: int
    key: str
    seconds: float


@dataclass(frozen=True)
class FrameFailed:
    index: int
    key: str
    message: str


@dataclass(frozen=True)
class FrameStep:
    """A backend that works in steps (diffusion) finished `step` of `steps` on this frame."""

    index: int
    key: str
    step: int
    steps: int


@dataclass(frozen=True)
class Progress:
    done: int  # frames finished in this run, failed ones included
    total: int
    failed: int
    rate: float  # frames per second over the run so far
    eta: float | None  # seconds left, None until there is a rate


Event = FrameQueued | FrameStarted | FrameStep | FrameDone | FrameFailed | Progress
