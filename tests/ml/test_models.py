import json

import pytest

from sdhd_studio.core.errors import BackendError
from sdhd_studio.ml import models


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache and no network: nothing here may reach the hub."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def diffusers_folder(path):
    path.mkdir()
    (path / "model_index.json").write_text(json.dumps({"_class_name": "X"}))
    (path / "unet").mkdir()
    (path / "unet" / "weights.safetensors").write_bytes(b"\0" * 1000)
    return path


def test_a_local_diffusers_folder_is_found_with_its_size(tmp_path):
    folder = diffusers_folder(tmp_path / "my-upscaler")
    where = models.locate_pretrained(str(folder))
    assert where.present and where.path == folder
    assert where.size == 1000 + len(json.dumps({"_class_name": "X"}))
    assert models.pretrained_folder(str(folder)) == folder


def test_a_folder_that_is_not_a_diffusers_model_says_so(tmp_path):
    (tmp_path / "photos").mkdir()
    where = models.locate_pretrained(str(tmp_path / "photos"))
    assert not where.present and "model_index.json" in where.where


def test_a_hub_id_not_in_the_cache_says_how_to_get_it():
    where = models.locate_pretrained("stabilityai/stable-diffusion-x4-upscaler")
    assert not where.present
    assert "sdhd models download stabilityai/stable-diffusion-x4-upscaler" in where.where
    with pytest.raises(BackendError, match="not downloaded"):
        models.pretrained_folder("stabilityai/stable-diffusion-x4-upscaler")


def test_a_hub_id_in_the_cache_loads_from_its_snapshot_folder(tmp_path):
    # The layout huggingface_hub writes: refs/main names the snapshot, files link to blobs.
    repo = tmp_path / "hub" / "models--someone--tiny-sd"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    (snapshot / "unet").mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "blobs" / "f00d").write_bytes(b"\1" * 4096)
    (snapshot / "unet" / "diffusion_pytorch_model.safetensors").symlink_to(repo / "blobs" / "f00d")
    (snapshot / "model_index.json").write_text("{}")
    where = models.locate_pretrained("someone/tiny-sd")
    assert where.present and where.path == snapshot
    assert where.size == 4096 + 2


def test_neither_folder_nor_hub_id_is_refused(tmp_path):
    where = models.locate_pretrained(str(tmp_path / "nowhere"))
    assert not where.present and "no folder" in where.where


def test_download_fails_clearly_when_offline():
    with pytest.raises(BackendError, match="HF_HUB_OFFLINE"):
        models.download("stabilityai/stable-diffusion-x4-upscaler")
    with pytest.raises(BackendError, match="not a hub id"):
        models.download("just-a-name")
