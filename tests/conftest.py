"""Real clips shared by every test folder, generated once per session with the bundled ffmpeg."""

from __future__ import annotations

from pathlib import Path

import clips
import pytest
import source_clips


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def sample_clip() -> str:
    """The bundled 640x360 Big Buck Bunny sample (132 frames at 25 fps, AAC stereo)."""
    return str(clips.SAMPLE)


@pytest.fixture(scope="session")
def tiny_clip(clip_dir: Path) -> str:
    return str(clips.make_tiny(clip_dir / "tiny.mp4"))


@pytest.fixture(scope="session")
def bbb_clip(clip_dir: Path) -> str:
    return str(clips.make_bbb(clip_dir / "bbb33.mp4"))


@pytest.fixture(scope="session", params=["mp4", "mpg"])
def two_tracks_clip(clip_dir: Path, request: pytest.FixtureRequest) -> str:
    """2 s with two audio streams (clips.TWO_TRACKS), the second tagged "fra"; MP4 and MPEG-PS."""
    return str(clips.make_two_tracks(clip_dir / f"two_tracks.{request.param}"))


@pytest.fixture(scope="session")
def open_gop_clip(clip_dir: Path) -> str:
    return str(clips.make_open_gop(clip_dir / "open_gop.mp4"))


@pytest.fixture(scope="session")
def flash_beep_clip(clip_dir: Path) -> str:
    """Black 160x120 at 25 fps with one white frame at clips.FLASH_FRAME and a beep with it."""
    return str(clips.make_flash_beep(clip_dir / "flash_beep.mp4"))


@pytest.fixture(scope="session")
def vfr_clip(clip_dir: Path) -> str:
    return str(clips.make_vfr(clip_dir / "vfr.mkv"))


@pytest.fixture(scope="session")
def odd_clip(clip_dir: Path) -> str:
    return str(clips.make_odd(clip_dir / "odd.mp4"))


@pytest.fixture(scope="session")
def corrupt_clip(clip_dir: Path) -> str:
    """50 mjpeg frames; those in clips.CORRUPT_FRAMES cannot be decoded."""
    return str(clips.make_corrupt(clip_dir / "corrupt.avi"))


@pytest.fixture(scope="session")
def audio_only_file(clip_dir: Path) -> str:
    return str(clips.make_audio_only(clip_dir / "tone.m4a"))


@pytest.fixture(scope="session")
def not_a_video(clip_dir: Path) -> str:
    path = clip_dir / "notes.mp4"
    path.write_text("this is a text file, not a video\n")
    return str(path)


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """A real local Ray cluster with 4 CPU slots for the farm tests; its address."""
    import logging

    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def tapes(clip_dir: Path) -> source_clips.Tapes:
    """Tape, disc and broadcast style sources by name (source_clips.Tapes.MADE), made on use."""
    folder = clip_dir / "tapes"
    folder.mkdir()
    return source_clips.Tapes(folder)
