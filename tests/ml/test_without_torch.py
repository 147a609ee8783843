"""The lite build has no torch: the backends that need it say so, the others run as before."""

import json
import sys

import pytest

from sdhd_studio.core import build
from sdhd_studio.ml import registry

NEED_TORCH = {"diffusion", "diffusion-refine", "diffusion-inpaint", "rife"}


@pytest.fixture
def lite(monkeypatch, tmp_path):
    info = tmp_path / "build.json"
    info.write_text(json.dumps({"flavour": "lite"}))
    monkeypatch.setattr(build, "BUILD_INFO", info)
    for name in ("torch", "diffusers", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)  # find_spec and import both see none
    build.flavour.cache_clear()
    yield
    build.flavour.cache_clear()


def test_in_the_lite_build_the_torch_backends_say_the_build_lacks_torch(lite):
    reasons = {spec.name: spec.unusable_reason() for spec in registry.backends()}
    for name in NEED_TORCH:
        assert "needs torch" in reasons[name], name
        assert "lite build of SDHD Studio leaves out" in reasons[name], name
    for name in ("lanczos", "bicubic", "realesrgan", "dis", "telea", "temporal-fill"):
        assert reasons[name] is None, (name, reasons[name])
