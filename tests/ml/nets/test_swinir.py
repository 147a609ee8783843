"""SwinIR built from a community file's shapes: each tail's layout recovered from the keys
(with the buffers SwinIR's own code saves), pixels against spandrel's reference implementation
(the authors' code) on sizes that are not whole windows, and what is not SwinIR told apart."""

import numpy as np
import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets
from sdhd_studio.ml.nets import hat, swinir
from tests.ml.nets.random_weights import picture, randomized

torch = pytest.importorskip("torch")
Arch = swinir.Arch
NETS = {
    "classical-x3": Arch(12, (2, 1), (2, 3), 8, 24, "pixelshuffle", 3, 16),
    "lightweight-x2": Arch(12, (2,), (2,), 8, 24, "pixelshuffledirect", 2, patch_norm=False),
    "real-x4": Arch(16, (2, 1), (2, 4), 4, 32, "nearest+conv", 4, three_convs=True),
    "real-x8": Arch(8, (1,), (2,), 4, 16, "nearest+conv", 8, 8),
    "jpeg-x1": Arch(12, (2,), (3,), 7, 24, "", 1),
}
# spandrel's SwinIR with `randomized(build(arch))`'s weights, on `picture(11, 13)`: its output's
# [0, :, ::step, ::step], step = 4 * scale + 1 (scratch check, spandrel 0.4 with torch 2.13).
REFERENCE = {
    "real-x4": [
        [[0.40947, 0.41378, 0.42971, 0.41348], [0.4068, 0.39378, 0.41013, 0.44497],
         [0.42145, 0.39093, 0.53117, 0.3951]],
        [[0.55948, 0.3924, 0.40259, 0.40725], [0.4957, 0.46997, 0.53833, 0.46939],
         [0.50073, 0.44788, 0.49691, 0.45178]],
        [[0.29916, 0.27208, 0.2437, 0.28925], [0.50121, 0.56929, 0.74688, 0.63454],
         [0.56119, 0.6447, 0.5924, 0.6293]]],
    "jpeg-x1": [  # learned on 0..255: the window of 7 says so
        [[0.19981, 0.33769, 0.40945], [0.58236, -0.00504, 1.16871], [0.78935, 0.3438, 0.66985]],
        [[0.26502, 0.34686, 0.46806], [-0.14934, 0.62851, 0.53918], [0.70472, 0.27861, 0.73186]],
        [[0.16644, 0.82721, 0.64661], [0.53221, 0.14419, 0.9691], [-0.00781, -0.26256, 0.23134]]],
}


def _file_shapes(arch, crop=48):
    """The shapes in a file SwinIR's code saved: the weights, each block's position index and
    each shifted block's masks for the training crop."""
    shapes = dict(arch.shapes())
    w = arch.window
    for layer, depth in enumerate(arch.depths):
        for block in range(depth):
            name = f"layers.{layer}.residual_group.blocks.{block}"
            shapes[f"{name}.attn.relative_position_index"] = (w * w, w * w)
            if block % 2:
                shapes[f"{name}.attn_mask"] = ((crop // w) ** 2, w * w, w * w)
    return shapes


@pytest.mark.parametrize("name", list(NETS))
def test_each_layout_is_recovered_from_a_files_shapes(name):
    arch = NETS[name]
    net = swinir.build(arch)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == arch.shapes()
    shapes = _file_shapes(arch)
    assert swinir.is_swinir(shapes)
    assert swinir.arch_of(shapes, name) == arch


@pytest.mark.parametrize("name", list(REFERENCE))
def test_pixels_match_the_authors_code(name):
    net = randomized(swinir.build(NETS[name]))
    with torch.no_grad():
        out = net(picture(11, 13))  # neither side a whole number of windows
    scale = NETS[name].scale
    assert out.shape == (1, 3, 11 * scale, 13 * scale)
    step = 4 * scale + 1
    np.testing.assert_allclose(out[0, :, ::step, ::step].numpy(), REFERENCE[name], atol=1e-4)


def test_a_picture_runs_as_if_reflected_to_whole_windows():
    net = randomized(swinir.build(NETS["classical-x3"]))
    image = picture(9, 13)
    reflected = torch.nn.functional.pad(image, (0, 3, 0, 7), mode="reflect")
    with torch.no_grad():
        np.testing.assert_allclose(net(image), net(reflected)[..., :27, :39], atol=1e-6)


def test_hat_and_esrgan_are_not_taken_for_swinir_nor_a_broken_file_loaded():
    small_hat = hat.Arch(16, (2,), (2,), window=4, overlap_window=6, conv_features=8,
                         squeeze_features=2, mlp_features=24, features=16, scale=2)
    assert not swinir.is_swinir(small_hat.shapes())
    assert not swinir.is_swinir(realesrgan_nets.Arch("rrdb", 1, 8, 32, scale=4).shapes())
    shapes = _file_shapes(NETS["real-x4"])
    shapes["absolute_pos_embed"] = (1, 2304, 16)
    with pytest.raises(BackendError, match="absolute positions, fixed to one picture size"):
        swinir.arch_of(shapes, "ape.pth")
    shapes = _file_shapes(NETS["real-x4"])
    shapes["layers.1.residual_group.blocks.0.attn.relative_position_bias_table"] = (49, 3)
    with pytest.raises(BackendError, match="^torn.pth: 16 dims do not split into"):
        swinir.arch_of(shapes, "torn.pth")
