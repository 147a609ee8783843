import threading
import time

from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import MediaError
from sdhd_studio.render.events import FrameDone, FrameFailed, FrameStarted, Progress
from sdhd_studio.render.plan import FrameJob
from sdhd_studio.render.scheduler import Scheduler


def job(index, deps=()):
    return FrameJob(index, f"k{index}", "src", (2, 2), "lanczos", {}, deps=frozenset(deps))


def run(jobs, run_job, **kwargs):
    events = []
    summary = Scheduler(run_job, workers=kwargs.pop("workers", 1)).run(
        jobs, on_event=events.append, **kwargs
    )
    return summary, events


def started(events):
    return [e.index for e in events if isinstance(e, FrameStarted)]


def test_frames_nearest_the_focus_go_first():
    summary, events = run([job(i) for i in range(10)], lambda j, c: None, focus=6)
    assert started(events) == [6, 5, 7, 4, 8, 3, 9, 2, 1, 0]
    assert summary.rendered == 10 and not summary.cancelled


def test_a_failing_frame_is_reported_and_the_rest_still_render():
    def run_job(j, cancel):
        if j.index == 3:
            raise MediaError("frame 3 could not be decoded: bad packet")

    summary, events = run([job(i) for i in range(6)], run_job, workers=2)
    assert summary.rendered == 5 and summary.failed == 1
    assert summary.errors == {3: "frame 3 could not be decoded: bad packet"}
    assert [e.index for e in events if isinstance(e, FrameFailed)] == [3]
    assert events[-1] == Progress(6, 6, 1, events[-1].rate, events[-1].eta)


def test_an_unexpected_crash_fails_only_its_frame():
    summary, _ = run([job(0), job(1)], lambda j, c: 1 / j.index)
    assert summary.rendered == 1
    assert summary.errors[0].startswith("ZeroDivisionError")


def test_dependencies_render_before_the_frames_made_from_them():
    jobs = [job(0, deps={"k2", "k3"}), job(1), job(2), job(3, deps={"k1"})]
    summary, events = run(jobs, lambda j, c: None, focus=0)
    order = started(events)
    assert order.index(1) < order.index(3) < order.index(0)
    assert order.index(2) < order.index(0)
    assert summary.rendered == 4


def test_frames_made_from_a_failed_frame_fail_with_the_reason():
    def run_job(j, cancel):
        if j.index == 1:
            raise MediaError("broken")

    summary, _ = run([job(0, deps={"k1"}), job(1), job(2)], run_job)
    assert summary.errors == {1: "broken", 0: "needs frame 1, which failed"}
    assert summary.rendered == 1


def test_cancel_stops_within_one_frame_per_worker_and_keeps_finished_frames():
    cancel = CancelToken()
    done = []

    def run_job(j, token):
        time.sleep(0.02)
        done.append(j.index)
        if len(done) == 3:
            token.cancel()

    summary, events = run([job(i) for i in range(50)], run_job, workers=2, cancel=cancel)
    assert summary.cancelled
    assert summary.rendered == len(done) <= 4
    assert len([e for e in events if isinstance(e, FrameDone)]) == len(done)


def test_a_backend_that_notices_cancel_leaves_its_frame_to_do():
    cancel = CancelToken()

    def run_job(j, token):
        token.cancel()
        token.check()

    summary, _ = run([job(0), job(1)], run_job, cancel=cancel)
    assert summary.cancelled and summary.rendered == 0 and summary.failed == 0


def test_moving_the_focus_during_a_render_reorders_what_is_left():
    scheduler = Scheduler(lambda j, c: time.sleep(0.01), workers=1)
    events = []
    playhead = [0]

    def on_event(event):
        events.append(event)
        if isinstance(event, FrameDone) and event.index == 0:
            playhead[0] = 80

    scheduler.run([job(i) for i in range(100)], focus=lambda: playhead[0], on_event=on_event)
    order = started(events)
    assert order[:3] == [0, 80, 79]


def test_events_come_from_the_calling_thread():
    threads = set()
    Scheduler(lambda j, c: None, workers=2).run(
        [job(i) for i in range(8)], on_event=lambda e: threads.add(threading.get_ident())
    )
    assert threads == {threading.get_ident()}
