"""The degradations a high-resolution crop goes through to become a training input.

`realtime` is for clean and mildly damaged SD: area, bicubic or Gaussian-blurred x2
downscales, light sensor noise, light JPEG or MPEG-2 compression. `restore` is for tape
transfers: the same downscales, then tape noise (grain smeared along the scan line), chroma
noise and chroma bleed (colour at a quarter of the luma's horizontal resolution, shifted), the
ringing of a VCR's edge enhancement, then heavy JPEG or MPEG-2 blocking as a capture to DVD
adds it. MPEG-2 is a real round trip through FFmpeg's mpeg2video encoder.
"""

from __future__ import annotations

import io
import subprocess

import av
import cv2
import numpy as np

from sdhd_studio.media.ffmpeg import ffmpeg_exe

KINDS = ("realtime", "restore")


def downscale(hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x2 smaller by a kernel drawn at random: area, bicubic, or Gaussian blur then area."""
    h, w = hr.shape[:2]
    size = (w // 2, h // 2)
    pick = rng.random()
    if pick < 0.5:
        return cv2.resize(hr, size, interpolation=cv2.INTER_AREA)
    if pick < 0.75:
        return cv2.resize(hr, size, interpolation=cv2.INTER_CUBIC)
    blurred = cv2.GaussianBlur(hr, (0, 0), rng.uniform(0.4, 1.0))
    return cv2.resize(blurred, size, interpolation=cv2.INTER_AREA)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    out = image.astype(np.float32) + rng.normal(0, sigma, image.shape).astype(np.float32)
    return out.clip(0, 255).astype(np.uint8)


def tape(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Analogue tape damage on an RGB uint8 picture (before any digital compression); each
    kind drawn from none to heavy, so the net also learns to leave a good transfer alone."""
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    h, w = ycc.shape[:2]
    # Luma grain, smeared along the scan line as tape noise is.
    grain = rng.normal(0, rng.uniform(0, 8), (h, w)).astype(np.float32)
    ycc[..., 0] += cv2.blur(grain, (int(rng.integers(1, 4)), 1))
    # Chroma: low horizontal resolution (bleed), a shift, and coarse blotchy noise.
    width = int(rng.integers(1, 8))
    shift = int(rng.integers(0, 3))
    for c in (1, 2):
        plane = cv2.blur(ycc[..., c], (width, 1))
        plane = np.roll(plane, shift, axis=1)
        blotches = rng.normal(0, rng.uniform(0, 8), (h, w)).astype(np.float32)
        ycc[..., c] = plane + cv2.GaussianBlur(blotches, (0, 0), 1.5) * 2
    # Edge enhancement's ringing: an unsharp mask with a wide kernel on the luma.
    if rng.random() < 0.5:
        y = ycc[..., 0]
        ycc[..., 0] = y + rng.uniform(0.2, 1.2) * (y - cv2.GaussianBlur(y, (0, 0), 1.5))
    return cv2.cvtColor(ycc.clip(0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


def degrade(hr: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A low-resolution input for the high-resolution crop `hr` (its sides even)."""
    low = downscale(hr, rng)
    if kind == "realtime":
        if rng.random() < 0.3:
            low = noise(low, rng.uniform(0.5, 3), rng)
        if rng.random() < 0.4:
            low = jpeg(low, int(rng.integers(60, 96)))
        return low
    if rng.random() < 0.85:
        low = tape(low, rng)
    if rng.random() < 0.6:
        low = jpeg(low, int(rng.integers(20, 80)))
    return low


def mpeg2_round_trip(frames: list[np.ndarray], qscale: int) -> list[np.ndarray]:
    """The frames (RGB uint8, same even size) encoded as MPEG-2 at a fixed quantiser (2 fine,
    31 coarse; DVDs of tape run about 4-12) with I, P and B pictures, and decoded back."""
    h, w = frames[0].shape[:2]
    encoded = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
         "-r", "25", "-i", "-", "-c:v", "mpeg2video", "-q:v", str(qscale), "-g", "12",
         "-bf", "2", "-pix_fmt", "yuv420p", "-f", "mpeg", "-"],
        input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
        capture_output=True, check=True,
    ).stdout
    with av.open(io.BytesIO(encoded)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"MPEG-2 round trip gave {len(decoded)} frames for {len(frames)}")
    return decoded


def mpeg2_pairs(
    clip: list[np.ndarray], kind: str, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(high, low) frame pairs: the clip's frames as truth, their degraded x2-smaller copies
    through an MPEG-2 round trip as inputs (so P and B pictures): for restore in runs of 8
    frames, each at a quantiser of its own; for realtime the whole clip at one."""
    clip = [f[: f.shape[0] // 32 * 32, : f.shape[1] // 32 * 32] for f in clip]
    pairs = []
    length = 8 if kind == "restore" else len(clip)
    for start in range(0, len(clip), length):
        run = clip[start : start + length]
        lows = [downscale(f, rng) for f in run]
        if kind == "restore":
            lows = [tape(low, rng) for low in lows]
            qscale = int(rng.integers(4, 16))
        else:
            qscale = int(rng.integers(2, 6))
        pairs += zip(run, mpeg2_round_trip(lows, qscale), strict=True)
    return pairs
