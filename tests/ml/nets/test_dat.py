"""DAT built from a community file's shapes: tiny random-weight nets in the layouts their
authors save (with the attention masks the original code stores), written as .safetensors and
.pth, read back by their shapes alone, loaded, and giving the pixels of the net that made the
file, at any picture size. Then what is refused, in one line."""

import re

import numpy as np
import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets
from sdhd_studio.ml.nets import dat, realcugan, span
from sdhd_studio.ml.weights import check_shapes, read_shapes, read_tensors, state_dict
from tests.ml.nets.random_weights import picture, randomized

torch = pytest.importorskip("torch")
Arch = dat.Arch
MASK_SIZE = 16  # the training crop the stored masks were made for (any multiple of 8)
NETS = {
    # DAT-light's layout: one group, three closing convolutions, one-step tail; block 2 of
    # the group has shifted windows.
    "light-x4": Arch(32, (3,), (4,), (4, 8), 64, "pixelshuffledirect", 4, three_convs=True),
    # DAT-S's and DAT-2's: groups, the classical tail; block 0 of group 1 shifted.
    "s-x2": Arch(32, (1, 2), (2, 4), (4, 8), 64, "pixelshuffle", 2, features=16),
    # x3's one-step shuffle, square windows, no bias on the projections, a wider
    # feed-forward (the full DAT's).
    "full-x3": Arch(32, (2, 1), (4, 2), (4, 4), 128, "pixelshuffle", 3, features=8,
                    qkv_bias=False),
}


# spandrel's DAT with `randomized(build(S_X2))`'s weights, on `picture(11, 13)`: its output's
# [0, :, ::9, ::9] (scratch check, spandrel 0.4 with torch 2.13).
S_X2 = Arch(32, (1, 2), (2, 4), (4, 8), 64, "pixelshuffle", 2)
REFERENCE = [
    [[0.5773, 0.34728, 0.7638], [0.07327, -0.48311, -0.8128], [0.585, 1.00909, 1.49601]],
    [[0.06017, 0.70437, 0.64545], [-0.18915, 0.85779, 0.72276], [-0.03051, 0.23183, -0.43392]],
    [[0.50603, -0.43035, 0.48512], [0.80316, 2.0549, 0.61129], [0.66013, 0.98478, -0.00469]],
]


def _module(name):
    """A net with every weight and statistic away from its initial value, whose output spreads
    over 0..1 (its last convolution rescaled)."""
    arch = NETS[name]
    torch.manual_seed(len(name))
    module = dat.build(arch)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
        for key, buffer in module.named_buffers():
            if key.endswith(("running_mean", "running_var")):
                buffer.copy_(torch.rand_like(buffer) + 0.5)
        conv = module.get_submodule("conv_last" if arch.tail == "pixelshuffle" else "upsample.0")
        outputs = []
        hook = conv.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        module(torch.rand(1, 3, 24, 24))
        hook.remove()
        mean, std = outputs[0].mean(), outputs[0].std()
        conv.weight.mul_(0.25 / std)
        conv.bias.sub_(mean).mul_(0.25 / std)
    return module


def _file_state(module):
    """The module's state as the original code saves it: plus each shifted block's masks."""
    state = {key: value.clone() for key, value in module.state_dict().items()}
    h, w = module.arch.window
    windows = (MASK_SIZE // h) * (MASK_SIZE // w)
    for group, depth in enumerate(module.arch.depths):
        for block in range(0, depth, 2):
            if block % 4 == (2 if group % 2 == 0 else 0):
                for mask in ("attn_mask_0", "attn_mask_1"):
                    state[f"layers.{group}.blocks.{block}.attn.{mask}"] = torch.zeros(
                        windows, h * w, h * w)
    return state


def _save(state, path):
    from safetensors.torch import save_file

    if path.suffix == ".safetensors":
        save_file({key: value.contiguous() for key, value in state.items()}, path)
    else:  # as BasicSR saves them
        torch.save({"params_ema": state}, path)
    return path


def _load(path):
    shapes, _ = read_shapes(path)
    assert dat.is_dat(shapes)
    arch = dat.arch_of(shapes, str(path))
    module = dat.build(arch)
    module.load_state_dict(dat.without_extras(state_dict(read_tensors(path), str(path))))
    return arch, module


def _run(module, x):
    with torch.no_grad():
        return module(x)


@pytest.mark.parametrize("name", NETS)
def test_the_arch_describes_the_module_it_builds(name):
    state = dat.build(NETS[name]).state_dict()
    check_shapes(NETS[name].shapes(), {k: tuple(v.shape) for k, v in state.items()}, name, name)


@pytest.mark.parametrize(("name", "suffix"), [("light-x4", ".safetensors"), ("s-x2", ".pth"),
                                              ("full-x3", ".safetensors")])
def test_a_saved_file_loads_back_to_the_same_pixels(tmp_path, name, suffix):
    module = _module(name)
    path = _save(_file_state(module), tmp_path / f"{name}{suffix}")
    arch, loaded = _load(path)
    assert arch == NETS[name]
    x = torch.rand(1, 3, 19, 23)  # neither side a multiple of any window's
    want = _run(module, x)
    assert want.shape == (1, 3, 19 * arch.scale, 23 * arch.scale)
    assert 0.1 < want.std() < 0.5  # a spread-out picture, not a flat one
    assert torch.equal(_run(loaded, x), want)


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (8, 8), (17, 40)])
def test_any_picture_size_comes_out_scaled(size):
    module = _module("light-x4")
    y = _run(module, torch.rand(1, 3, *size))
    assert y.shape == (1, 3, 4 * size[0], 4 * size[1])
    assert torch.isfinite(y).all()


def test_pictures_in_a_batch_do_not_mix():
    """Each picture's windows and masks are its own: a batch gives each one's own result."""
    module = _module("s-x2")
    a, b = torch.rand(1, 3, 13, 21), torch.rand(1, 3, 13, 21)
    both = _run(module, torch.cat([a, b]))
    assert torch.allclose(both[:1], _run(module, a), atol=1e-5)
    assert torch.allclose(both[1:], _run(module, b), atol=1e-5)


def test_a_half_precision_file_loads(tmp_path):
    module = _module("s-x2")
    state = {key: value.half() if value.is_floating_point() else value
             for key, value in _file_state(module).items()}
    _, loaded = _load(_save(state, tmp_path / "half.safetensors"))
    x = torch.rand(1, 3, 12, 12)
    assert (_run(loaded, x) - _run(module, x)).abs().max() < 0.02


def _shapes(name):
    return {key: tuple(value.shape) for key, value in _file_state(_module(name)).items()}


def _refusal(shapes):
    with pytest.raises(BackendError) as exc:
        dat.arch_of(shapes, "net.pth")
    message = str(exc.value)
    assert "\n" not in message and message.startswith("net.pth: ")
    return message


def test_a_missing_weight_is_refused():
    shapes = _shapes("s-x2")
    del shapes["layers.1.blocks.1.ffn.fc2.bias"]
    assert "missing layers.1.blocks.1.ffn.fc2.bias" in _refusal(shapes)


def test_a_wrong_shape_is_refused():
    shapes = _shapes("s-x2")
    shapes["layers.0.blocks.0.attn.proj.weight"] = (32, 31)
    assert re.search(r"attn\.proj\.weight is \(32, 31\).*needs \(32, 32\)", _refusal(shapes))


def test_a_grey_model_is_refused():
    shapes = _shapes("light-x4")
    shapes["conv_first.weight"] = (32, 1, 3, 3)
    assert "1-channel pictures; only RGB" in _refusal(shapes)


def test_windows_taller_than_wide_are_refused_when_loading():
    """Their tables have the shapes of w x h ones: only the values tell."""
    module = _module("s-x2")
    state = module.state_dict()
    tall = dat.build(Arch(32, (1, 2), (2, 4), (8, 4), 64, "pixelshuffle", 2, features=16))
    for key, value in tall.state_dict().items():
        if key.endswith(("rpe_biases", "relative_position_index")):
            state[key] = value
    with pytest.raises(RuntimeError, match="not the table of 4x8 windows"):
        dat.build(dat.arch_of({k: tuple(v.shape) for k, v in state.items()}, "tall")
                  ).load_state_dict(state)


def test_only_dat_files_are_taken_for_dat():
    assert dat.is_dat(_shapes("light-x4"))
    swinir = {f"layers.0.residual_group.blocks.0.{key}": (1,) for key in (
        "norm1.weight", "attn.relative_position_bias_table", "attn.qkv.weight",
        "mlp.fc1.weight")}
    swinir.update({"conv_first.weight": (60, 3, 3, 3), "patch_embed.norm.weight": (60,),
                   "conv_after_body.weight": (60, 60, 3, 3)})
    # RGT (by DAT's authors) shares `before_RG` and the window attention, not the gated ffn
    rgt = {key: (1,) for key in ("conv_first.weight", "before_RG.1.weight",
                                 "layers.0.blocks.0.attn.attns.0.rpe_biases",
                                 "layers.0.blocks.0.attn.attns.0.pos.pos_proj.weight",
                                 "layers.0.blocks.0.mlp.fc1.weight", "layers.0.blocks.0.gamma")}
    esrgan = realesrgan_nets.Arch("rrdb", 1, 8, 32, scale=4).shapes()
    for shapes in (swinir, rgt, esrgan, span.Arch(8, scale=2).shapes(),
                   realcugan.Arch(2).shapes()):
        assert not dat.is_dat(shapes)


def test_pixels_match_the_authors_code():
    """Neither side a whole number of windows: the attention's own zero padding counts."""
    with torch.no_grad():
        out = randomized(dat.build(S_X2))(picture(11, 13))
    assert out.shape == (1, 3, 22, 26)
    np.testing.assert_allclose(out[0, :, ::9, ::9].numpy(), REFERENCE, atol=1e-4)
