import sys

import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml.devices import pick_device


def test_auto_picks_a_device_and_says_why():
    device = pick_device("auto")
    assert device.name in ("cpu", "mps") or device.name.startswith("cuda")
    assert device.label and device.reason
    assert device.half_precision == device.name.startswith("cuda")


def test_the_cpu_can_always_be_asked_for():
    device = pick_device("cpu")
    assert (device.name, device.reason, device.half_precision) == ("cpu", "asked for", False)


def test_an_unknown_device_is_a_clear_error():
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        pick_device("tpu")


def test_a_missing_gpu_is_a_clear_error_not_a_silent_cpu_fallback():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendError, match="cuda was asked for"):
        pick_device("cuda")


def test_without_torch_auto_is_the_cpu_and_a_named_gpu_says_torch_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec and import both see no torch
    pick_device.cache_clear()
    try:
        device = pick_device("auto")
        assert device.name == "cpu" and "needs torch" in device.reason
        with pytest.raises(BackendError, match="cuda needs torch, which is not installed"):
            pick_device("cuda")
    finally:
        pick_device.cache_clear()
