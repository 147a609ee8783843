"""PLKSR and RealPLKSR built from a community file's shapes: each layout recovered from the
keys, pixels against spandrel's reference implementation (the authors' code), and what is not
supported refused in one line."""

import numpy as np
import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import realesrgan_nets
from sdhd_studio.ml.nets import plksr, span
from tests.ml.nets.random_weights import picture, randomized

torch = pytest.importorskip("torch")
Arch = plksr.Arch
NETS = {
    "plksr-x3-ccm": Arch(16, 2, 3, 5, 4, mixer="CCM"),
    "plksr-x4-iccm-no-attention": Arch(16, 3, 4, 9, 8, mixer="ICCM", attention=False),
    "real-x2-dysample": Arch(16, 2, 2, 7, 4, real=True, dysample=True),
    "real-x3-layer-norm-dysample": Arch(16, 2, 3, 7, 4, real=True, layer_norm=True,
                                        dysample=True),
    "real-x4": Arch(16, 1, 4, 17, 4, real=True),
}
# spandrel's nets with `randomized(build(arch))`'s weights, on `picture(11, 13)`: their
# output's [0, :, ::step, ::step], step = 4 * scale + 1 (scratch check, spandrel 0.4 with
# torch 2.13; sdhd's modules matched them exactly).
REFERENCE = {
    "plksr-x3-ccm": [
        [[0.34087, 0.03709, -0.13061], [-0.28567, 1.19201, 0.48235], [1.11465, 0.22127, 0.76933]],
        [[0.77862, -0.25179, 0.53224], [1.41754, 1.20762, 0.55098], [0.31598, 0.50298, 0.98714]],
        [[0.10305, -0.059, 1.14798], [-0.14661, 0.61964, 0.72341], [0.50457, 1.41951, -0.1592]]],
    "real-x2-dysample": [
        [[-1.2632, 0.72129, 1.07516], [0.41455, 0.07308, -0.22828], [-0.23229, -0.33289, 0.67315]],
        [[0.86888, 0.24913, -0.45357], [-0.99777, -0.8434, -0.95249],
         [-0.26844, 0.05157, -1.36765]],
        [[-0.12026, 0.24064, 0.14731], [-0.18636, -1.23132, -0.53916],
         [-0.02765, -0.35031, -0.07114]]],
}


@pytest.mark.parametrize("name", list(NETS))
def test_each_layout_is_recovered_from_a_files_shapes(name):
    arch = NETS[name]
    shapes = {k: tuple(v.shape) for k, v in plksr.build(arch).state_dict().items()}
    assert shapes == arch.shapes()
    assert plksr.is_plksr(shapes)
    assert plksr.arch_of(shapes, name) == arch


@pytest.mark.parametrize("name", list(REFERENCE))
def test_pixels_match_the_authors_code(name):
    arch = NETS[name]
    with torch.no_grad():
        out = randomized(plksr.build(arch))(picture(11, 13))
    assert out.shape == (1, 3, 11 * arch.scale, 13 * arch.scale)
    step = 4 * arch.scale + 1
    np.testing.assert_allclose(out[0, :, ::step, ::step].numpy(), REFERENCE[name], atol=1e-4)


def test_other_families_are_not_taken_and_ablations_are_refused():
    assert not plksr.is_plksr(span.Arch(8, scale=2).shapes())
    assert not plksr.is_plksr(realesrgan_nets.Arch("srvgg", 2, 8, scale=4).shapes())
    sparse = {k.replace("lk.conv", "lk.convs.0"): v for k, v in NETS["real-x4"].shapes().items()}
    with pytest.raises(BackendError, match="^sparse.pth: a PLKSR with sparse or rectangular"):
        plksr.arch_of(sparse, "sparse.pth")
    grey = dict(NETS["real-x4"].shapes(), **{"feats.0.weight": (16, 1, 3, 3)})
    with pytest.raises(BackendError, match="1-channel pictures; only RGB"):
        plksr.arch_of(grey, "grey.pth")
    torn = {k: v for k, v in NETS["plksr-x3-ccm"].shapes().items() if "feats.2.attn" not in k}
    with pytest.raises(BackendError, match="^torn.pth: does not match PLKSR"):
        plksr.arch_of(torn, "torn.pth")
