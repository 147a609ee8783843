"""HAT community files: tiny random-weight nets saved as the authors' code saves them, read
back from their shapes alone, loaded, and run on any input size; pixels checked against
spandrel's reference implementation (the authors' code); malformed files and other families'
files refused or told apart in one line."""

import dataclasses

import numpy as np
import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets
from sdhd_studio.ml.nets import hat, realcugan, span
from sdhd_studio.ml.weights import read_shapes, read_tensors, state_dict

torch = pytest.importorskip("torch")
X2 = hat.Arch(embed_dim=16, depths=(2,), heads=(2,), window=4, overlap_window=6,
              conv_features=4, squeeze_features=2, mlp_features=32, features=8, scale=2)
ARCHS = {
    "x2": X2,
    # HAT-L's shape (more groups, x4) in miniature, an odd number of blocks in one group
    "x4-groups": dataclasses.replace(X2, depths=(3, 1, 2), heads=(2, 4, 1), scale=4),
    # every switch the files show the other way; overlap ratio 1
    "x3-bare": hat.Arch(embed_dim=12, depths=(2, 1), heads=(3, 2), window=4, overlap_window=8,
                        conv_features=6, squeeze_features=1, mlp_features=24, features=8,
                        scale=3, qkv_bias=False, patch_norm=False, resi_connection="identity"),
}
# spandrel's HAT (the authors' code), loaded with `_state(X2)`, on `_image(11, 7)`: its
# output's [0, :, ::7, ::5] (scratch check, spandrel 0.4 with torch 2.13 on a CPU).
REFERENCE = [
    [[-0.242997, 0.772507, 0.850665], [-1.240687, -0.213367, -1.185562],
     [0.087336, 0.914436, -1.098409], [-1.708568, 1.933363, 0.731906]],
    [[0.482627, -1.204506, -0.352597], [0.043697, 1.801194, -1.464820],
     [-1.198364, 0.211275, -1.715836], [0.567587, 1.144058, -0.249220]],
    [[0.722978, 0.721674, -2.499398], [-0.090907, -0.902918, 2.014836],
     [0.528347, 0.421022, -1.025946], [0.220870, 0.609648, 2.712960]],
]


def _state(arch, seed=0):
    """Random weights for every tensor, none at its initial value: convolutions and linear
    maps scaled by their fan-in, norms' gains around 1, biases and position biases around 0
    (the position biases much larger than at their initialisation, so that they matter)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in sorted(arch.shapes().items()):
        noise = rng.standard_normal(shape)
        if key.endswith("relative_position_bias_table"):
            value = noise
        elif len(shape) > 1:
            value = noise * np.sqrt(1.5 / np.prod(shape[1:]))
        elif "norm" in key and key.endswith("weight"):
            value = 1 + 0.3 * noise
        else:
            value = 0.1 * noise
        state[key] = torch.from_numpy(value.astype(np.float32))
    return state


def _net(arch, state):
    net = hat.build(arch)
    net.load_state_dict(hat.without_extras(state))  # strict: every weight as in the files
    return net


def _image(height, width, seed=1):
    return torch.from_numpy(
        np.random.default_rng(seed).random((1, 3, height, width), dtype=np.float32))


def _run(net, image):
    with torch.no_grad():
        return net(image)


def _save(arch, path):
    """As the authors' trainer (BasicSR) saves: .pth with the weights under `params_ema`,
    relative position indices included; or a converter's bare .safetensors."""
    net = _net(arch, _state(arch))
    weights = net.state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(weights, path)
    else:
        torch.save({"params_ema": weights}, path)
    return net


def test_the_state_dict_is_the_files_layout():
    for arch in ARCHS.values():
        net = hat.build(arch)
        assert {key: tuple(value.shape) for key, value in net.state_dict().items()} == (
            arch.shapes())


def test_pixels_match_the_authors_code():
    out = _run(_net(X2, _state(X2)), _image(11, 7))
    assert out.shape == (1, 3, 22, 14)
    np.testing.assert_allclose(out[0, :, ::7, ::5].numpy(), REFERENCE, atol=1e-4)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_a_saved_file_is_recognised_from_its_shapes_and_loads_as_the_same_net(
    name, suffix, tmp_path
):
    arch = ARCHS[name]
    path = tmp_path / f"4x-HAT-{name}{suffix}"
    saved = _save(arch, path)
    shapes, _ = read_shapes(path)
    assert hat.is_hat(shapes)
    assert hat.arch_of(shapes, str(path)) == arch
    loaded = _net(arch, state_dict(read_tensors(path), str(path)))
    image = _image(13, 9)
    out = _run(loaded, image)
    assert out.shape == (1, 3, 13 * arch.scale, 9 * arch.scale)
    assert torch.equal(out, _run(saved, image))


def test_any_input_size_runs_as_if_reflected_to_the_window():
    net = _net(X2, _state(X2))
    for height, width in [(1, 1), (1, 6), (2, 3), (3, 2), (4, 4), (5, 9), (17, 6)]:
        out = _run(net, _image(height, width))
        assert out.shape == (1, 3, 2 * height, 2 * width)
        assert torch.isfinite(out).all()
    # as the original: reflected at the bottom and right up to a multiple of the window
    image = _image(13, 9)
    reflected = torch.nn.functional.pad(image, (0, 3, 0, 3), mode="reflect")
    np.testing.assert_allclose(_run(net, image), _run(net, reflected)[..., :26, :18], atol=1e-6)


def test_buffers_the_net_makes_itself_may_be_absent_extra_or_wrong_in_a_file():
    net = _net(X2, _state(X2))
    image = _image(8, 12)
    state = dict(net.state_dict())
    state[hat.INDEX_KEYS[0]] = torch.zeros(16, 16, dtype=torch.int64)  # nonsense: never used
    state[hat.INDEX_KEYS[1]] = torch.zeros(16, 36, dtype=torch.int64)
    # the fixed-size masks SwinIR-style code saves with its shifted blocks
    state["layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(4, 16, 16)
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    assert hat.arch_of(shapes, "masks") == X2
    assert torch.equal(_run(_net(X2, state), image), _run(net, image))
    without = {key: value for key, value in state.items() if key not in hat.INDEX_KEYS}
    assert hat.arch_of({key: tuple(v.shape) for key, v in without.items()}, "bare") == X2
    assert torch.equal(_run(_net(X2, without), image), _run(net, image))


def _broken():
    """name: (shapes of a malformed file, words its refusal must say)."""
    good = X2.shapes()
    block = "layers.0.residual_group.blocks.1"
    missing = {key: shape for key, shape in good.items() if key != f"{block}.mlp.fc2.bias"}
    grey = dict(good, **{"conv_first.weight": (16, 1, 3, 3), "conv_last.weight": (1, 8, 3, 3),
                         "conv_last.bias": (1,)})
    return {
        "missing": (missing, "missing layers.0.residual_group.blocks.1.mlp.fc2.bias"),
        "wrong-shape": (dict(good, **{f"{block}.norm2.weight": (15,)}),
                        f"{block}.norm2.weight is (15,), HAT (16 features, 1 groups, window 4, "
                        "x2) needs (16,)"),
        "grey": (grey, "a HAT taking 1 channels to 1: only RGB models run here"),
        "x5": (dict(good, **{"upsample.0.weight": (200, 8, 3, 3), "upsample.0.bias": (200,)}),
               "upsampling stages widen by 25"),
        "heads": (dict(good, **{key: (shape[0], 3) for key, shape in good.items()
                                if key.endswith("relative_position_bias_table")}),
                  "3 heads do not divide 16 features"),
        "odd-overlap": (dict(good, **{
            "layers.0.residual_group.overlap_attn.relative_position_bias_table": (100, 2)}),
            "7-pixel overlapping window around a 4-pixel one"),
        "position-embedding": (dict(good, absolute_pos_embed=(1, 4096, 16)),
                               "absolute position embedding"),
    }


@pytest.mark.parametrize("name", list(_broken()))
def test_malformed_files_are_refused_in_one_line(name):
    shapes, words = _broken()[name]
    assert hat.is_hat(shapes)
    with pytest.raises(BackendError) as error:
        hat.arch_of(shapes, "bad.pth")
    message = str(error.value)
    assert message.startswith("bad.pth: ") and words in message and "\n" not in message


def test_a_file_missing_a_whole_part_is_refused_in_one_line(tmp_path):
    path = tmp_path / "cut.safetensors"
    _save(X2, path)
    shapes, _ = read_shapes(path)
    del shapes["conv_last.weight"]
    with pytest.raises(BackendError, match=r"^\S+cut.safetensors: not a whole HAT: no "
                                           r"conv_last.weight$"):
        hat.arch_of(shapes, str(path))


def test_other_families_are_not_taken_for_hat():
    esrgan = realesrgan_nets.build(realesrgan_nets.Arch("rrdb", 1, 8, 32, scale=4))
    compact = realesrgan_nets.build(realesrgan_nets.Arch("srvgg", 2, 8, scale=4))
    # SwinIR: the same groups of shifted-window blocks, the same head, fixed masks; but no
    # convolution branch in its blocks and no cross-attention closing its groups.
    swinir = {key.replace("overlap_attn", "blocks.2"): shape for key, shape in X2.shapes().items()
              if "conv_block" not in key}
    swinir["layers.0.residual_group.blocks.1.attn_mask"] = (4, 16, 16)
    swinir["layers.0.residual_group.blocks.0.attn.relative_position_index"] = (16, 16)
    for shapes in (
        {key: tuple(value.shape) for key, value in esrgan.state_dict().items()},
        {key: tuple(value.shape) for key, value in compact.state_dict().items()},
        span.Arch(8, scale=2).shapes(),
        realcugan.Arch(2).shapes(),
        swinir,
    ):
        assert not hat.is_hat(shapes)
