"""How the engine drives learned backends: one shared instance, one user at a time, loaded
once per process; a backend that cannot run fails its frames at once; steps are reported."""

import threading
import time

import clips
import cv2
import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.events import FrameStep
from sdhd_studio.render.session import Session


class SteppingUpscaler:
    """A real resize that, like a diffusion pipeline, works in steps and must not be shared."""

    made = 0

    def __init__(self, runtime: Runtime) -> None:
        type(self).made += 1
        self.runtime = runtime
        self.users = 0
        self.most_users = 0
        self._count = threading.Lock()

    def upscale(self, image, size, settings, cancel):
        with self._count:
            self.users += 1
            self.most_users = max(self.most_users, self.users)
        try:
            for step in range(1, 4):
                time.sleep(0.01)
                cancel.step(step, 3)
            return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        finally:
            with self._count:
                self.users -= 1


@pytest.fixture
def stepping():
    checked = []

    def check(settings):
        checked.append(settings["model"])
        return None if settings["model"] != "missing-model" else "model missing-model not found"

    spec = registry.register(registry.BackendSpec(
        "test-stepping", "upscale", "1", frozenset({"model"}), SteppingUpscaler,
        thread_safe=False, check=check,
    ))  # fmt: skip
    SteppingUpscaler.made = 0
    yield spec, checked
    registry._BACKENDS.pop(("upscale", "test-stepping"))
    registry.release_instances()


@pytest.fixture
def session(tiny_clip, tmp_path, stepping):
    return Session.create(
        tiny_clip, tmp_path / "tiny.sdhd", output=OutputSettings(height=180),
        settings={"upscaler": "test-stepping"},
    )


def test_one_instance_serves_every_worker_one_at_a_time_and_outlives_the_render(session):
    first = session.render(range(6), workers=2)
    second = session.render(range(6, clips.TINY_FRAMES), workers=2)
    assert first.rendered + second.rendered == clips.TINY_FRAMES
    assert SteppingUpscaler.made == 1
    upscaler, _ = registry.instance(registry.get("upscale", "test-stepping"), Runtime())
    assert upscaler.most_users == 1


def test_each_runtime_gets_its_own_instance(session):
    session.render(range(2), runtime=Runtime(device="cpu"))
    session.render(range(2, 4), runtime=Runtime(device="cpu", tile=128))
    assert SteppingUpscaler.made == 2


def test_steps_reach_the_caller_as_events_from_its_own_thread(session):
    events, threads = [], set()

    def on_event(event):
        threads.add(threading.get_ident())
        events.append(event)

    session.render(range(2), workers=1, on_event=on_event)
    steps = [(e.index, e.step, e.steps) for e in events if isinstance(e, FrameStep)]
    assert sorted(steps) == [(i, s, 3) for i in range(2) for s in (1, 2, 3)]
    assert threads == {threading.get_ident()}


def test_cancel_takes_effect_at_the_next_step(session):
    cancel = CancelToken()

    def on_event(event):
        if isinstance(event, FrameStep):
            cancel.cancel()

    summary = session.render(workers=1, on_event=on_event, cancel=cancel)
    assert summary.cancelled and summary.rendered <= 1 and summary.failed == 0


def test_a_backend_that_cannot_run_fails_its_frames_at_once_with_the_reason(session, stepping):
    _, checked = stepping
    session.edit("model", edits.set_defaults, {"model": "missing-model"})
    summary = session.render(workers=2)
    assert summary.failed == clips.TINY_FRAMES and summary.rendered == 0
    assert set(summary.errors.values()) == {
        "test-stepping cannot run here: model missing-model not found"
    }
    assert checked.count("missing-model") <= 2  # asked once per render, not once per frame
    assert SteppingUpscaler.made == 0
