"""The nets we trained and ship (`realtime`, `restore`): they load from the package, size their
output exactly, agree across runtimes, and beat Lanczos on held-out real frames.

Held out: frames 88-131 of the bundled sample were never trained on (training/data.py).
"""

import subprocess

import cv2
import numpy as np
import pytest
from clips import TINY_FRAMES

from sdhd_studio.cli.main import main
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.media.ffmpeg import ffmpeg_exe
from sdhd_studio.media.probe import probe
from sdhd_studio.media.quality import psnr_y, ssim_y
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import models, registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.upscale.compact import CompactUpscaler, weights_file

HELD_OUT = (96, 112, 128)
SETTINGS = {"sharpen": 0.0}


@pytest.fixture(scope="module")
def truths(sample_clip):
    with FrameReader(sample_clip) as reader:
        return [reader.read(i) for i in HELD_OUT]


def _shrink(image):
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                      interpolation=cv2.INTER_AREA)


def _lanczos(image, size):
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)


@pytest.fixture(scope="module", params=["ncnn", "torch"])
def realtime(request):
    return CompactUpscaler("realtime", Runtime(device="cpu"), request.param)


@pytest.mark.parametrize("name", ["realtime", "restore"])
def test_the_package_ships_the_weights_and_the_registry_offers_the_net(name):
    assert weights_file(name).stat().st_size < 1_000_000
    spec = registry.get("upscale", name)
    assert spec.unusable_reason() is None
    assert any(m.id == f"{name}-x2" and m.locate().present for m in models.catalogue())


def test_output_is_exactly_the_asked_size(realtime):
    image = np.random.default_rng(0).integers(0, 256, (45, 81, 3), np.uint8)
    for size in [(162, 90), (200, 101), (120, 70)]:
        out = realtime.upscale(image, size, SETTINGS, CancelToken())
        assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8


def test_runtimes_agree(truths):
    low = _shrink(truths[0])
    size = (truths[0].shape[1], truths[0].shape[0])
    outs = [CompactUpscaler("realtime", Runtime(device="cpu"), engine).upscale(
        low, size, SETTINGS, CancelToken()) for engine in ("onnxruntime", "torch")]
    assert np.abs(outs[0].astype(int) - outs[1].astype(int)).max() <= 1


def test_tiles_join_without_seams(truths):
    low = _shrink(truths[1])
    size = (truths[1].shape[1], truths[1].shape[0])
    whole = CompactUpscaler("realtime", Runtime(device="cpu")).upscale(
        low, size, SETTINGS, CancelToken())
    tiled = CompactUpscaler("realtime", Runtime(device="cpu", tile=64)).upscale(
        low, size, SETTINGS, CancelToken())
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_realtime_beats_lanczos_on_held_out_frames(realtime, truths):
    gains, ssim_gains = [], []
    for truth in truths:
        low, size = _shrink(truth), (truth.shape[1], truth.shape[0])
        ours, plain = realtime.upscale(low, size, SETTINGS, CancelToken()), _lanczos(low, size)
        gains.append(psnr_y(ours, truth) - psnr_y(plain, truth))
        ssim_gains.append(ssim_y(ours, truth) - ssim_y(plain, truth))
    assert min(gains) > 0.5 and min(ssim_gains) > 0


def _tape_like(frames):
    """A tape transfer's damage, then a DVD's: grain, coarse chroma noise, chroma bleed (colour
    smeared and shifted along the line), edge-enhancement ringing, MPEG-2 at quantiser 10."""
    rng = np.random.default_rng(3)
    damaged = []
    for frame in frames:
        ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        y = ycc[..., 0]
        ycc[..., 0] = y + 0.8 * (y - cv2.GaussianBlur(y, (0, 0), 1.5)) + rng.normal(0, 5, y.shape)
        chroma = np.roll(cv2.blur(ycc[..., 1:], (5, 1)), 2, axis=1)
        ycc[..., 1:] = chroma + cv2.GaussianBlur(rng.normal(0, 6, chroma.shape), (0, 0), 1.5)
        damaged.append(cv2.cvtColor(ycc.clip(0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB))
    return _ffmpeg(damaged, "-c:v", "mpeg2video", "-q:v", "10", "-f", "mpeg")


def _ffmpeg(frames, *args):
    """The frames through ffmpeg: encoded with `args` and decoded back, or filtered by them."""
    h, w = frames[0].shape[:2]
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24"]
    out = subprocess.run([ffmpeg_exe(), "-v", "error", *raw, "-s", f"{w}x{h}", "-i", "-", *args,
                          "-"], input=b"".join(f.tobytes() for f in frames),
                         capture_output=True, check=True).stdout
    if "-f" in args and args[args.index("-f") + 1] == "mpeg":
        out = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "mpeg", "-i", "-", *raw, "-"],
                             input=out, capture_output=True, check=True).stdout
    return list(np.frombuffer(out, np.uint8).reshape(len(frames), h, w, 3))


def test_restore_beats_lanczos_and_a_denoiser_on_tape_damaged_held_out_frames(truths):
    restore = CompactUpscaler("restore", Runtime(device="cpu"))
    lows = _tape_like([_shrink(t) for t in truths])
    denoised = _ffmpeg(lows, "-vf", "hqdn3d=4:3:6:4.5", *["-f", "rawvideo", "-pix_fmt", "rgb24"])
    for truth, low, clean in zip(truths, lows, denoised, strict=True):
        size = (truth.shape[1], truth.shape[0])
        ours = psnr_y(restore.upscale(low, size, SETTINGS, CancelToken()), truth)
        assert ours > psnr_y(_lanczos(low, size), truth) + 1
        assert ours > psnr_y(_lanczos(clean, size), truth) + 1


def test_sdhd_upscale_runs_the_realtime_net_end_to_end(tiny_clip, tmp_path):
    out = tmp_path / "hd.mp4"
    assert main(["upscale", tiny_clip, "-o", str(out), "--height", "180", "--upscaler",
                 "realtime", "--preset", "ultrafast"]) == 0
    info = probe(str(out))
    assert (info.width, info.height, info.frame_count) == (320, 180, TINY_FRAMES)
