"""A live session over a file played in real time: the realtime net's x2 result, frames dropped
and counted when the net is behind, and recordings that match what was captured."""

import threading

import av
import clips
import cv2
import numpy as np
import pytest

from sdhd_studio.core.errors import MediaError
from sdhd_studio.render.live import LiveSession, live_source, realtime_upscale


def frames_of(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return pictures, float(stream.average_rate)


def test_two_seconds_of_the_sample_through_the_realtime_net(tmp_path):
    shown = []
    session = LiveSession(str(clips.SAMPLE), realtime_upscale(), record=tmp_path / "live.mp4",
                          on_frame=shown.append)
    stats = session.run(seconds=2)

    assert stats.processed == len(shown) > 0
    assert stats.processed + stats.dropped == stats.offered
    assert stats.offered < 132  # two seconds of a 5.3 s clip, not the whole file
    first = shown[0]
    assert first.source.shape == (360, 640, 3) and first.result.shape == (720, 1280, 3)
    # The result is the source's x2, not some other picture.
    small = cv2.resize(first.result, (640, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - first.source).mean() < 4

    source_frames, source_fps = frames_of(tmp_path / "live-source.mkv")
    result_frames, result_fps = frames_of(tmp_path / "live.mp4")
    assert len(source_frames) == len(result_frames) == stats.offered
    assert source_frames[0].shape == (360, 640, 3) and result_frames[0].shape == (720, 1280, 3)
    assert source_fps == result_fps == 25
    # Near lossless: the recorded source is the captured picture.
    assert np.abs(source_frames[first.index].astype(int) - first.source).mean() < 1.5


def test_a_slow_net_drops_frames_and_counts_them(tiny_clip):
    """An upscale that returns only once three newer frames have arrived: each of those but the
    newest is dropped, however fast the machine."""
    session: LiveSession

    def slow(image):
        seen = session.stats.offered
        for _ in range(50):
            if session.stats.offered >= seen + 3:
                break
            threading.Event().wait(0.01)
        return cv2.resize(image, None, fx=2, fy=2)

    indices = []
    session = LiveSession(tiny_clip, slow, on_frame=lambda frame: indices.append(frame.index))
    stats = session.run()

    assert stats.offered == clips.TINY_FRAMES  # the file played to its end
    assert stats.dropped > 0
    assert stats.processed == len(indices) and stats.processed + stats.dropped == stats.offered
    assert indices == sorted(indices)  # always the newest frame, never an old one queued up


def test_bad_sources_are_refused_in_one_line(tmp_path, not_a_video):
    assert live_source("rtsp://camera.local/stream").paced
    with pytest.raises(MediaError, match="no such file, device or stream URL"):
        live_source(str(tmp_path / "missing.mp4"))
    session = LiveSession(not_a_video, realtime_upscale(), record=tmp_path / "out.mp4")
    with pytest.raises(MediaError, match="could not open"):
        session.run(seconds=1)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
