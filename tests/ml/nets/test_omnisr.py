"""OmniSR community files: tiny random-weight nets saved as the authors' code saves them, read
back from their shapes alone, loaded, and run on any input size; pixels checked against
spandrel's reference implementation (the authors' code); malformed files refused in one line."""

import numpy as np
import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets
from sdhd_studio.ml.nets import omnisr, realcugan, span
from sdhd_studio.ml.weights import read_shapes, read_tensors, state_dict

torch = pytest.importorskip("torch")
ARCHS = {
    "x2": omnisr.Arch(8, groups=1, blocks=2, scale=2, window=4),
    "x3-without-biases": omnisr.Arch(12, groups=2, blocks=1, scale=3, bias=False),
    "x4-without-position-bias": omnisr.Arch(8, groups=1, blocks=1, scale=4, pe=False),
}


def _state(arch, seed=0):
    """Random weights for every tensor, none at its initial value: convolutions and linear
    maps scaled by their fan-in, norms' gains and temperatures around 1, the rest around 0."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in sorted(arch.shapes().items()):
        noise = rng.standard_normal(shape)
        if len(shape) > 1 and not key.endswith(("temperature", "rel_pos_bias.weight")):
            value = noise / np.sqrt(np.prod(shape[1:]))
        elif key.endswith(("norm.weight", "temperature")):
            value = 1 + 0.3 * noise
        else:
            value = 0.3 * noise
        state[key] = torch.from_numpy(value.astype(np.float32))
    return state


def _net(arch, state):
    net = omnisr.build(arch)
    net.load_state_dict(state)  # strict: every key and shape as the files have them
    return net


def _save(state, path):
    """As the authors' trainer saves (.pth, a bare state dict) or a converter (.safetensors);
    the .pth with the counters `thop` leaves in every module, as the published files have."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, path)
    else:
        counters = {f"{module}.{name}": torch.zeros(1, dtype=torch.float64)
                    for module in ("", "input.", "residual_layer.0.esa.conv1.")
                    for name in ("total_ops", "total_params")}
        torch.save(state | {key.lstrip("."): value for key, value in counters.items()}, path)
    return path


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_a_saved_net_is_recognised_from_its_shapes_and_makes_the_same_pixels(
    name, suffix, tmp_path
):
    arch = ARCHS[name]
    state = _state(arch)
    path = _save(state, tmp_path / f"{name}{suffix}")
    shapes, _ = read_shapes(path)
    assert omnisr.is_omnisr(shapes)
    assert omnisr.arch_of(shapes, str(path)) == arch
    loaded = _net(arch, omnisr.without_extras(state_dict(read_tensors(path), str(path))))
    x = torch.rand(1, 3, 23, 17, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = _net(arch, state)(x), loaded(x)
    assert got.shape == (1, 3, 23 * arch.scale, 17 * arch.scale)
    assert want.std() > 0.1  # a picture, not a constant: a wrong weight would show
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (5, 30), (16, 16), (19, 13), (33, 8)])
def test_any_input_size_runs_and_comes_out_scale_times_as_large(size):
    """Smaller than the window, not a multiple of it, and under the 15 px the original's
    spatial attention (ESA) needs: padded inside the net and cropped back."""
    arch = ARCHS["x2"]
    with torch.no_grad():
        out = _net(arch, _state(arch))(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * 2, size[1] * 2)
    assert torch.isfinite(out).all()


# spandrel 0.4.2's OmniSR (the authors' code) run on `_state(ARCHS["x2"])` and a 19x13 input
# of np.random.default_rng(7).random((1, 3, 19, 13)): the output at (row, column) per channel.
# 19x13 is padded with zeros to 20x16 (4 px windows; 16 px for ESA).
_REFERENCE = {
    (0, 0): (-0.61296, 0.11221, 0.49376),
    (5, 11): (0.62893, -0.19568, 0.74746),
    (20, 9): (-0.02894, -1.37478, 2.08890),
    (37, 25): (-0.16384, 0.84665, 1.18601),
    (37, 0): (-0.21438, 1.63387, -0.17690),
    (13, 24): (0.60773, 0.44062, -3.19110),
}


def test_pixels_match_the_authors_code():
    arch = ARCHS["x2"]
    x = torch.from_numpy(np.random.default_rng(7).random((1, 3, 19, 13)).astype(np.float32))
    with torch.no_grad():
        out = _net(arch, _state(arch))(x)[0]
    for (row, column), want in _REFERENCE.items():
        assert out[:, row, column].tolist() == pytest.approx(want, abs=1e-4), (row, column)


def _without(shapes, key):
    return {k: v for k, v in shapes.items() if k != key}


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: _without(s, "residual_layer.0.esa.conv3.bias"),
     "does not match OmniSR (8 features, 1x2 blocks, window 4, x2): missing "
     "residual_layer.0.esa.conv3.bias"),
    (lambda s: s | {"output.weight": (8, 8, 1, 1)},
     "output.weight is (8, 8, 1, 1), OmniSR (8 features, 1x2 blocks, window 4, x2) needs "
     "(8, 8, 3, 3)"),
    (lambda s: s | {"input.weight": (8, 1, 3, 3), "up.0.weight": (4, 8, 3, 3)},
     "an OmniSR taking 1 channels to 4: not an RGB upscaler"),
    (lambda s: s | {"input.weight": (10, 3, 3, 3)},
     "an OmniSR of 10 features, not a multiple of its 4 attention heads"),
    (lambda s: _without(s, "residual_layer.0.residual_layer.1.layer.12.fn.dwconv.weight"),
     "missing residual_layer.0.residual_layer.1.layer.12.fn.dwconv.weight"),
])
def test_a_file_not_quite_an_omnisr_is_refused_in_one_line(change, message, tmp_path):
    path = tmp_path / "broken.safetensors"
    state = _state(ARCHS["x2"])
    shapes = change({key: tuple(value.shape) for key, value in state.items()})
    from safetensors.torch import save_file

    save_file({key: torch.zeros(shape) for key, shape in shapes.items()}, path)
    shapes, _ = read_shapes(path)
    assert omnisr.is_omnisr(shapes)
    with pytest.raises(BackendError) as refused:
        omnisr.arch_of(shapes, str(path))
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def _swinir_keys():
    """A SwinIR's names (its classical x2 layout, one layer of one block), from its code."""
    keys = ["conv_first.weight", "patch_embed.norm.weight", "conv_after_body.weight",
            "conv_before_upsample.0.weight", "upsample.0.weight", "conv_last.weight"]
    block = "layers.0.residual_group.blocks.0"
    keys += [f"{block}.attn.relative_position_bias_table", f"{block}.attn.qkv.weight",
             f"{block}.mlp.fc1.weight", "layers.0.conv.weight"]
    return dict.fromkeys(keys, (1,))


def test_other_families_are_not_taken_for_omnisr():
    others = {
        "SPAN": span.Arch(8, scale=2).shapes(),
        "Real-CUGAN": realcugan.Arch(2).shapes(),
        "SwinIR": _swinir_keys(),
    }
    for arch in (realesrgan_nets.Arch("rrdb", 1, 8, 8), realesrgan_nets.Arch("srvgg", 2, 8)):
        others[arch.family] = {k: tuple(v.shape)
                               for k, v in realesrgan_nets.build(arch).state_dict().items()}
    for family, shapes in others.items():
        assert not omnisr.is_omnisr(shapes), family
    assert omnisr.is_omnisr(ARCHS["x2"].shapes())
