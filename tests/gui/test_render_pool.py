"""Rendering from the editor: live states, cancel, edits during a render, nothing left running."""

from __future__ import annotations

import gc
import time
import weakref

import clips
import cv2
import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.gui.document import Document
from sdhd_studio.gui.render_pool import RenderPool
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.events import FrameStep
from sdhd_studio.render.session import Session
from sdhd_studio.render.status import FrameState


@pytest.fixture
def document(tiny_clip, tmp_path, qtbot):
    session = Session.create(
        tiny_clip, tmp_path / "t.sdhd", output=OutputSettings(height=180), save_edits=False
    )
    doc = Document(session)
    yield doc
    doc.close()


@pytest.fixture
def pool(document):
    pool = RenderPool(document, workers=2)
    yield pool
    pool.shutdown()


@pytest.fixture
def slow_upscaler():
    """A Lanczos upscale that takes 0.3 s and checks for cancel only before it starts, so a
    test can act while frames render, and a frame in flight always finishes."""

    class Slow:
        def upscale(self, image, size, settings, cancel):
            cancel.check()
            time.sleep(0.3)
            return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)

    spec = registry.register(
        registry.BackendSpec("slow-lanczos", "upscale", "1", frozenset(), lambda runtime: Slow())
    )
    yield spec.name
    del registry._BACKENDS[("upscale", spec.name)]
    registry.release_instances()


def test_a_render_turns_every_frame_done(document, pool, qtbot):
    seen = []
    document.statesChanged.connect(lambda: seen.append(document.status.counts()))
    with qtbot.waitSignal(pool.finished, timeout=30000) as finished:
        pool.render()
    assert finished.args[0].rendered == clips.TINY_FRAMES
    assert document.status.counts()["done"] == clips.TINY_FRAMES
    # The states arrived in batches while the render ran, not only at the end.
    assert any(0 < c["done"] < clips.TINY_FRAMES for c in seen) or len(seen) >= 2
    assert not pool.is_running()


def test_rendering_a_range_renders_only_that_range(document, pool, qtbot):
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pool.render(range(3, 8))
    assert list(document.status.frames_in(FrameState.DONE)) == [3, 4, 5, 6, 7]


def test_cancel_stops_within_a_frame_and_leaves_the_rest_dirty(
    document, pool, qtbot, slow_upscaler
):
    document.edit("Slow", edits.set_defaults, {"upscaler": slow_upscaler})
    pool.render()
    qtbot.waitUntil(lambda: document.status.counts()["done"] >= 2, timeout=20000)
    with qtbot.waitSignal(pool.finished, timeout=10000) as finished:
        pool.cancel()
    summary = finished.args[0]
    assert summary.cancelled
    counts = document.status.counts()
    assert counts["queued"] == 0 and counts["rendering"] == 0
    assert counts["done"] == summary.rendered < clips.TINY_FRAMES
    assert counts["empty"] == clips.TINY_FRAMES - summary.rendered


def test_an_edit_during_a_render_requeues_what_it_dirtied(document, pool, qtbot, slow_upscaler):
    document.edit("Slow", edits.set_defaults, {"upscaler": slow_upscaler})
    pool.render()
    qtbot.waitUntil(lambda: document.status.counts()["done"] >= 3, timeout=20000)
    # Back to Lanczos: every frame's recipe changes; the render must switch to the new keys.
    document.edit("Lanczos", edits.set_defaults, {"upscaler": "lanczos"})
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pass
    assert document.status.counts()["done"] == clips.TINY_FRAMES
    keys = document.session.plan().keys
    cached = document.session.cache.keys()
    assert all(key in cached for key in keys)


def test_results_for_an_outdated_recipe_are_never_shown(document, pool, qtbot, slow_upscaler):
    document.edit("Slow", edits.set_defaults, {"upscaler": slow_upscaler})
    pool.render(range(0, 1))
    qtbot.waitUntil(
        lambda: document.status.state(0) == FrameState.RENDERING, timeout=10000
    )
    old_key = document.status.keys[0]
    document.edit("Sharpen", edits.set_defaults, {"upscaler": "lanczos", "sharpen": 1.0})
    pool.cancel()
    qtbot.waitUntil(lambda: not pool.is_running(), timeout=10000)
    # The worker finished the frame under its old key; the frame's current key is not done.
    assert old_key in document.session.cache
    assert document.status.state(0) == FrameState.DIRTY


def test_failed_frames_carry_their_message(corrupt_clip, tmp_path, qtbot):
    session = Session.create(corrupt_clip, tmp_path / "c.sdhd", save_edits=False)
    document = Document(session)
    pool = RenderPool(document, workers=2)
    failures = []
    pool.frameFailed.connect(lambda i, m: failures.append(i))
    with qtbot.waitSignal(pool.finished, timeout=60000):
        pool.render()
    pool.shutdown()
    assert sorted(failures) == sorted(clips.CORRUPT_FRAMES)
    for index in clips.CORRUPT_FRAMES:
        assert document.status.state(index) == FrameState.FAILED
        assert document.status.errors[index]


@pytest.fixture
def probe(add_backend):
    """An upscaler that remembers the runtime each of its instances was made for."""
    made = []

    class Probe:
        def __init__(self, runtime):
            self.runtime = runtime
            made.append(self)

        def upscale(self, image, size, settings, cancel):
            return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)

    add_backend("runtime-probe", factory=Probe)
    return made


def test_renders_run_on_the_runtime_they_are_given(document, pool, qtbot, probe):
    document.edit("Probe", edits.set_defaults, {"upscaler": "runtime-probe"})
    pool.set_runtime(Runtime("cpu", 128))
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pool.render(range(0, 2))
    assert [p.runtime for p in probe] == [Runtime("cpu", 128)]


def test_a_new_runtime_unloads_the_models_once_the_render_ends(
    document, pool, qtbot, probe, stepping_upscaler
):
    stepping, gate = stepping_upscaler
    document.edit("Probe", edits.set_defaults, {"upscaler": "runtime-probe"})
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pool.render(range(0, 1))
    loaded = weakref.ref(probe.pop())
    pool.set_runtime(Runtime("cpu"))  # no render running: unloaded at once
    gc.collect()
    assert loaded() is None

    document.edit("Stepping", edits.set_defaults, {"upscaler": stepping})
    pool.render(range(0, 1))
    qtbot.waitUntil(lambda: document.status.state(0) == FrameState.RENDERING, timeout=10000)
    in_use = weakref.ref(registry.instance(registry.get("upscale", stepping), Runtime("cpu"))[0])
    pool.set_runtime(Runtime("cpu", 256))  # the render still uses its model
    gc.collect()
    assert in_use() is not None
    gate.set()
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pass
    gc.collect()
    assert in_use() is None


def test_step_progress_is_reported_per_frame_and_cleared_when_it_ends(
    document, pool, qtbot, stepping_upscaler
):
    stepping, gate = stepping_upscaler
    reports = []
    pool.stepsChanged.connect(reports.append)
    document.edit("Stepping", edits.set_defaults, {"upscaler": stepping})
    pool.render(range(4, 5))
    qtbot.waitUntil(lambda: bool(reports) and reports[-1] == {4: (3, 5)}, timeout=10000)
    gate.set()
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pass
    assert reports[-1] == {}
    assert all(set(r) <= {4} for r in reports)


def test_steps_are_shown_once_per_batch_and_repaint_no_timeline(document, pool):
    reports, repaints = [], []
    pool.stepsChanged.connect(reports.append)
    document.statesChanged.connect(lambda: repaints.append(1))
    key = document.status.keys[2]
    for step in range(1, 21):  # what the scheduler hands over between two drains
        pool._events.append(FrameStep(2, key, step, 20))
    pool._apply_events()
    assert reports == [{2: (20, 20)}]
    assert repaints == []


def test_cancelling_clears_the_steps_of_unfinished_frames(
    document, pool, qtbot, stepping_upscaler
):
    stepping, _ = stepping_upscaler
    reports = []
    pool.stepsChanged.connect(reports.append)
    document.edit("Stepping", edits.set_defaults, {"upscaler": stepping})
    pool.render(range(0, 1))
    qtbot.waitUntil(lambda: bool(reports) and reports[-1] == {0: (3, 5)}, timeout=10000)
    with qtbot.waitSignal(pool.finished, timeout=30000):
        pool.cancel()
    assert reports[-1] == {}


def test_with_a_farm_address_the_frames_render_on_its_workers(document, ray_cluster, qtbot):
    pool = RenderPool(document, workers=1, farm=ray_cluster)
    try:
        with qtbot.waitSignal(pool.finished, timeout=60000) as finished:
            pool.render()
        assert finished.args[0].rendered == clips.TINY_FRAMES
        assert document.status.counts()["done"] == clips.TINY_FRAMES
        document.edit("sharpen", edits.set_keyframe, 8, {"sharpen": 0.5})
        with qtbot.waitSignal(pool.finished, timeout=60000) as finished:
            pool.render()
        assert finished.args[0].rendered == clips.TINY_FRAMES - 8
    finally:
        pool.shutdown()
