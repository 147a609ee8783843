"""`sdhd models`, `sdhd models download` and the runtime flags, offline as this machine is."""

import json

import pytest

from tests.cli.test_cli import fails, last_json, sdhd


@pytest.fixture(autouse=True)
def offline_hub(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def test_models_lists_every_model_with_where_it_is(capsys):
    code, out, _ = sdhd(capsys, "models", "--json")
    assert code == 0
    rows = {row["id"]: row for row in last_json(out)}
    shipped = rows["realesr-animevideov3"]
    assert shipped["source"] == "wheel" and shipped["present"] and shipped["bytes"] > 1_000_000
    hub = rows["stabilityai/stable-diffusion-x4-upscaler"]
    assert hub["source"] == "hub" and not hub["present"] and hub["bytes"] == 0
    assert "sdhd models download" in hub["where"]
    code, out, _ = sdhd(capsys, "models")
    assert code == 0 and "realesr-animevideov3" in out and "missing" in out


def test_download_offline_fails_in_one_line(capsys):
    fails(capsys, "models", "download", "stabilityai/stable-diffusion-x4-upscaler",
          match="HF_HUB_OFFLINE is set")
    fails(capsys, "models", "download", "realesr-animevideov3", match="nothing to download")


def test_a_bad_tile_size_is_refused_before_anything_renders(tiny_clip, tmp_path, capsys):
    project = tmp_path / "p.sdhd"
    assert sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 180)[0] == 0
    fails(capsys, "render", project, "--tile", "7", match="tile size must be")
    assert not list((project / "cache").glob("*/*"))


def test_render_on_the_cpu_by_request(tiny_clip, tmp_path, capsys):
    project = tmp_path / "p.sdhd"
    sdhd(capsys, "new", tiny_clip, "-o", project, "--height", 180)
    code, out, err = sdhd(capsys, "render", project, "--device", "cpu", "--tile", "64", "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["failed"] == 0
