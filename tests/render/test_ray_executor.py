"""Rendering on a real local Ray cluster of two worker processes: the same frames as a local
render, exactly the dirty ones after an edit, and nothing lost or made twice when a worker
process is killed in the middle of a render."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import clips
import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.render.events import FrameDone
from sdhd_studio.render.ray_executor import RayExecutor
from sdhd_studio.render.session import Session


@pytest.fixture(scope="module")
def farm(ray_cluster):
    executor = RayExecutor(workers=2)
    try:
        yield executor
    finally:
        executor.shutdown()


def _guided(clip: str, path: Path) -> Session:
    """Guided frames (made after their keyframes) and in-betweens (after both their frames)."""
    session = Session.create(clip, path, output=OutputSettings(height=180, fps_multiplier=2),
                             settings={"mode": "guided", "upscaler": "bicubic"})
    session.edit("keyframes", edits.add_keyframes, 8)
    return session


def _done(events: list[str]):
    return lambda e: isinstance(e, FrameDone) and events.append(e.key)


def test_the_farm_makes_the_same_frames_as_a_local_render(farm, bbb_clip, tmp_path):
    assert len(farm.worker_info()) == 2
    remote, local = _guided(bbb_clip, tmp_path / "farm.sdhd"), _guided(bbb_clip, tmp_path / "l")
    done: list[str] = []
    summary = remote.render(executor=farm, on_event=_done(done))
    assert local.render().rendered == summary.rendered == clips.BBB_FRAMES * 2 - 1
    assert summary.failed == 0 and len(done) == len(set(done)) == summary.rendered
    keys = remote.cache.keys()
    assert keys == local.cache.keys() == remote.plan().all_keys()
    assert all(remote.cache.path(k).read_bytes() == local.cache.path(k).read_bytes()
               for k in keys)
    assert remote.cache.rendered_frames() == set(range(clips.BBB_FRAMES))
    assert not list(remote.cache.root.glob("farm-*"))  # the shared-storage marker is gone


def test_after_an_edit_the_farm_renders_exactly_the_dirty_frames(farm, tiny_clip, tmp_path):
    session = Session.create(tiny_clip, tmp_path / "t.sdhd", output=OutputSettings(height=180))
    session.edit("k8", edits.set_keyframe, 8, {"sharpen": 0.5})
    session.edit("k16", edits.set_keyframe, 16, {"sharpen": 0.1})
    assert session.render(executor=farm).rendered == clips.TINY_FRAMES
    session.edit("k8 again", edits.set_keyframe, 8, {"sharpen": 1.0})
    done: list[str] = []
    summary = session.render(executor=farm, on_event=_done(done))
    assert (summary.rendered, summary.cached, summary.failed) == (8, 16, 0)
    assert sorted(done) == sorted(session.plan().keys[8:16])


def test_a_frame_no_worker_can_make_fails_with_the_reason(farm, tiny_clip, tmp_path):
    # No worker has RIFE's weights: each refuses the in-betweens, and they fail with why.
    session = Session.create(tiny_clip, tmp_path / "r.sdhd",
                             output=OutputSettings(height=180, fps_multiplier=2),
                             settings={"interpolator": "rife"})
    summary = session.render(range(4), executor=farm)
    assert summary.rendered == 5  # frames 0-4: the pair 3-4 needs frame 4
    assert sorted(summary.interpolation_errors) == [0, 1, 2, 3]
    message = summary.interpolation_errors[0]
    assert message.startswith("no farm worker can make it: worker ")
    assert "rife cannot run here" in message and "flownet.pkl" in message


def test_cancel_stops_the_workers_and_the_next_render_makes_the_rest(farm, sample_clip,
                                                                     tmp_path):
    session = Session.create(sample_clip, tmp_path / "c.sdhd", output=OutputSettings(height=720))
    cancel = CancelToken()
    done: list[str] = []

    def on_event(event):
        if isinstance(event, FrameDone):
            done.append(event.key)
            if len(done) == 3:
                cancel.cancel()

    frames = range(40)
    summary = session.render(frames, executor=farm, on_event=on_event, cancel=cancel)
    assert summary.cancelled and summary.failed == 0
    assert 3 <= summary.rendered < 40 and len(done) == summary.rendered
    assert session.cache.keys() == set(done)  # every frame reported done is stored, no other
    rest = session.render(frames, executor=farm)
    assert (rest.rendered, rest.cached) == (40 - summary.rendered, summary.rendered)


def test_a_worker_killed_mid_render_loses_nothing_and_makes_nothing_twice(
    farm, sample_clip, tmp_path, caplog
):
    # 1080p frames from the 640x360 sample take long enough that both workers always hold one.
    session = Session.create(sample_clip, tmp_path / "k.sdhd",
                             output=OutputSettings(height=1080))
    frames = range(24)
    victim = farm.worker_info()[0].pid
    done: list[str] = []

    def on_event(event):
        if isinstance(event, FrameDone):
            done.append(event.key)
            if len(done) == 4:
                os.kill(victim, signal.SIGKILL)

    with caplog.at_level(logging.WARNING, "sdhd_studio.render.ray_executor"):
        summary = session.render(frames, executor=farm, on_event=on_event)
    died = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    assert died and all(f"worker {victim} on " in text for text in died)
    assert (summary.rendered, summary.failed) == (24, 0)
    keys = [session.plan().keys[i] for i in frames]
    assert sorted(done) == sorted(keys)  # each frame done once
    assert session.cache.keys() == set(keys)
    assert all(session.cache.get(k).shape == (1080, 1920, 3) for k in keys)
    assert sorted(map(int, (session.cache.root / "rendered.log").read_text().split())) == [
        *frames]
    # Ray restarts the killed worker, and it takes frames again once it answers.
    for _ in range(120):
        workers = farm.worker_info()
        if len(workers) == 2:
            break
        time.sleep(0.25)
    assert len(workers) == 2 and victim not in {w.pid for w in workers}
